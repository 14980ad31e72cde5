package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/testtool"
)

const startTimeout = 30 * time.Second

// shortDir returns a short temporary directory: Unix socket paths are
// limited to about 100 bytes, and t.TempDir's can be longer.
func shortDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startDaemon runs cmd until the test ends, its output going to logPath,
// and waits for sock to accept connections.
func startDaemon(t testing.TB, cmd *exec.Cmd, sock, logPath string) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited before serving %s:\n%s", cmd.Path, sock, logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no socket %s after %v: %v\n%s", cmd.Path, sock, startTimeout, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runTool(t testing.TB, ctx context.Context, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// Podman is a running `podman system service` over a private store.
type Podman struct {
	// Socket is the API socket path; Host is it as a unix:// URL.
	Socket, Host string
	// Root is the store's graph root (driver vfs), for containers-storage:.
	Root   string
	bin    string
	global []string
}

// StartPodman starts Podman's API service with root, runroot and temporary
// directories under a fresh directory, the vfs storage driver (no
// overlay or fuse needed) and no idle timeout.
func StartPodman(t testing.TB) *Podman {
	t.Helper()
	bin := testtool.Require(t, "podman")
	dir := shortDir(t, "pdm")
	for _, d := range []string{"root", "run", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	p := &Podman{Socket: filepath.Join(dir, "p.sock"), Root: filepath.Join(dir, "root"), bin: bin, global: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "none",
	}}
	p.Host = "unix://" + p.Socket
	args := append(append([]string{}, p.global...), "system", "service", "--time=0", p.Host)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "CONTAINERS_CONF=/dev/null")
	startDaemon(t, cmd, p.Socket, filepath.Join(dir, "service.log"))
	return p
}

// Load runs podman load on an archive (docker-archive or oci-archive) and
// tags the loaded image name.
func (p *Podman) Load(t testing.TB, ctx context.Context, archive, name string) {
	t.Helper()
	out := runTool(t, ctx, p.bin, append(append([]string{}, p.global...), "load", "-q", "-i", archive)...)
	var loaded string
	if _, err := fmt.Sscanf(string(bytes.TrimSpace(out)), "Loaded image: %s", &loaded); err != nil {
		t.Fatalf("podman load: unexpected output %q", out)
	}
	if loaded != name {
		runTool(t, ctx, p.bin, append(append([]string{}, p.global...), "tag", loaded, name)...)
	}
}

// Containerd is a running containerd with its own root, state and socket.
type Containerd struct {
	Socket string
	ctr    string
}

// StartContainerd starts containerd with a config whose root, state, gRPC
// and ttrpc addresses live in a fresh directory (CRI off, no metrics or
// debug listeners).
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	bin := testtool.Require(t, "containerd")
	ctr := testtool.Require(t, "ctr")
	dir := shortDir(t, "ctd")
	sock := filepath.Join(dir, "c.sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, exec.Command(bin, "--config", cfgPath), sock, filepath.Join(dir, "containerd.log"))
	return &Containerd{Socket: sock, ctr: ctr}
}

// Import runs ctr images import (no unpacking: only the content store is
// needed) of an OCI or docker archive into namespace ns, naming the image
// baseName:TAG from the archive's ref names.
func (c *Containerd) Import(t testing.TB, ctx context.Context, ns, archive, baseName string) {
	t.Helper()
	runTool(t, ctx, c.ctr, "-a", c.Socket, "-n", ns, "images", "import", "--no-unpack", "--base-name", baseName, archive)
}

// Version returns the daemon's `ctr version` output (server part).
func (c *Containerd) Version(t testing.TB, ctx context.Context) string {
	t.Helper()
	return string(runTool(t, ctx, c.ctr, "-a", c.Socket, "version"))
}

// Dockerd is a running Docker daemon with its own data root and socket.
type Dockerd struct {
	// Socket is the API socket path; Host is it as a unix:// URL.
	Socket, Host string
	docker       string
}

// StartDockerd starts dockerd on a private socket with the vfs storage
// driver, no networking set-up (no bridge, no iptables) and the given
// containerd (see StartContainerd) instead of its own. dockerd needs root:
// the test is skipped otherwise.
func StartDockerd(t testing.TB, c *Containerd) *Dockerd {
	t.Helper()
	// dockerd lives in /usr/sbin, which a minimal PATH may lack.
	bin := "/usr/sbin/dockerd"
	if _, err := os.Stat(bin); err != nil {
		bin = testtool.Require(t, "dockerd")
	}
	docker := testtool.Require(t, "docker")
	if os.Geteuid() != 0 {
		t.Skip("dockerd needs root")
	}
	dir := shortDir(t, "dkd")
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	d := &Dockerd{Socket: filepath.Join(dir, "d.sock"), docker: docker}
	d.Host = "unix://" + d.Socket
	cmd := exec.Command(bin, "--config-file", cfg, "--data-root", data, "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "-H", d.Host, "--containerd", c.Socket,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
	// dockerd bind-mounts its data root onto itself and undoes it on a
	// clean exit; after a crash, detach it so the directory can go.
	t.Cleanup(func() { syscall.Unmount(data, syscall.MNT_DETACH) })
	startDaemon(t, cmd, d.Socket, filepath.Join(dir, "dockerd.log"))
	return d
}

// Load runs docker load on a docker-archive tarball.
func (d *Dockerd) Load(t testing.TB, ctx context.Context, archive string) {
	t.Helper()
	runTool(t, ctx, d.docker, "-H", d.Host, "load", "-q", "-i", archive)
}
