package fleettest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
)

// BuildStrata builds strata's command (github.com/stratascan/strata/cmd/strata)
// into dir and returns the binary's path. Tests call it once, from
// TestMain, and run the binary as processes.
func BuildStrata(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "strata")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/stratascan/strata/cmd/strata")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fleettest: go build ./cmd/strata: %w\n%s", err, out.String())
	}
	return bin, nil
}

// Env returns an environment for strata processes that keeps them off the
// developer's files: HOME and the XDG data, config, state and cache
// directories under root, DOCKER_CONFIG at dockerConfig (may be ""), and
// PATH kept.
func Env(root, dockerConfig string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(root, "home"),
		"XDG_DATA_HOME=" + filepath.Join(root, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(root, "config"),
		"XDG_STATE_HOME=" + filepath.Join(root, "state"),
		"XDG_CACHE_HOME=" + filepath.Join(root, "cache"),
		"TMPDIR=" + os.TempDir(),
	}
	if dockerConfig != "" {
		env = append(env, "DOCKER_CONFIG="+dockerConfig)
	}
	return env
}

// Proc is a running strata process with its output captured.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *testtool.Buffer
	done chan struct{}

	mu      sync.Mutex
	err     error
	peakRSS int64 // bytes, from rusage once exited
}

// Start runs bin with args and env as a process named name (for logs). Its
// combined output is kept (Logs) and, when the test fails, logged. It is
// killed on t.Cleanup if still running.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &testtool.Buffer{Max: 8 << 20}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("fleettest: start %s (%s %s): %v", name, bin, strings.Join(args, " "), err)
	}
	p := &Proc{Name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.peakRSS = ru.Maxrss << 10 // Linux reports KiB
		}
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s (pid %d, %s) output:\n%s", name, p.PID(), strings.Join(args, " "), tail(p.Logs(), 200))
		}
	})
	return p
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Logs returns the process's output so far.
func (p *Proc) Logs() string { return p.out.String() }

// Exited reports whether the process has ended, and its error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Kill sends SIGKILL (as a crash would) and waits for the process to end.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for the process to exit; it
// returns the process's exit error, or an error when it had to be killed.
func (p *Proc) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		_, err := p.Exited()
		return err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM (killed)", p.Name, timeout)
	}
}

// PeakRSS returns the process's peak resident set size in bytes: VmHWM
// while it runs, the kernel's rusage maximum once it has exited.
func (p *Proc) PeakRSS() int64 {
	if ok, _ := p.Exited(); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.peakRSS
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// WaitLog waits until the process's output contains s, the process exits,
// or timeout passes; it reports whether s appeared.
func (p *Proc) WaitLog(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Logs(), s) {
			return true
		}
		if ok, _ := p.Exited(); ok {
			return strings.Contains(p.Logs(), s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = append([]string{fmt.Sprintf("[... %d lines before]", len(ls)-lines)}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

// DockerConfig writes a Docker config.json under dir holding r's
// credentials (when it has any) and returns dir, for DOCKER_CONFIG: the
// way strata processes (serve, worker, purge) find registry credentials.
func DockerConfig(t testing.TB, dir string, r *registrytest.Registry) string {
	t.Helper()
	auths := map[string]any{}
	if r.Username != "" {
		auths[r.Host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(r.Username + ":" + r.Password))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
	}
	if err != nil {
		t.Fatalf("fleettest: docker config: %v", err)
	}
	return dir
}
