package registrytest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratascan/strata/internal/testtool"
)

type debianProc struct {
	bin string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *testtool.Buffer
	done chan struct{}
	err  error
}

// StartDebian runs the Debian docker-registry (distribution 2.8) binary,
// `docker-registry serve CONFIG`, on 127.0.0.1 with a free port and its own
// config (filesystem root under t.TempDir()). It waits until /v2/ answers
// and stops the process on t.Cleanup. Without the binary the test fails
// when CI is set to a true value (testtool.CI) and is skipped otherwise.
func StartDebian(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin := testtool.Require(t, "docker-registry")
	r := newRegistry(t, "debian", opts)
	r.deb = &debianProc{bin: bin}
	port, err := freePort()
	if err != nil {
		t.Fatalf("registrytest: free port: %v", err)
	}
	r.Host = fmt.Sprintf("127.0.0.1:%d", port)
	if err := os.WriteFile(r.ConfigPath, []byte(r.config(r.Host, false)), 0o644); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	r.deb.start(t, r)
	t.Cleanup(func() { r.deb.stop(t) })
	return r
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (d *debianProc) start(t testing.TB, r *Registry) {
	t.Helper()
	d.mu.Lock()
	cmd := exec.Command(d.bin, "serve", r.ConfigPath)
	out := &testtool.Buffer{Max: 1 << 20}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		t.Fatalf("registrytest: start %s serve: %v", d.bin, err)
	}
	done := make(chan struct{})
	d.cmd, d.out, d.done, d.err = cmd, out, done, nil
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(done)
	}()
	d.mu.Unlock()
	r.waitReady(t, func() error {
		select {
		case <-done:
			d.mu.Lock()
			defer d.mu.Unlock()
			return fmt.Errorf("%v; output:\n%s", d.err, out.String())
		default:
			return nil
		}
	})
}

// stop terminates the registry process (SIGTERM, then SIGKILL after 5s).
func (d *debianProc) stop(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// garbageCollect runs `docker-registry garbage-collect [--dry-run]
// [--delete-untagged] CONFIG` and returns its combined output.
func (d *debianProc) garbageCollect(t testing.TB, r *Registry, deleteUntagged, dryRun bool) string {
	t.Helper()
	args := []string{"garbage-collect"}
	if dryRun {
		args = append(args, "--dry-run")
	}
	if deleteUntagged {
		args = append(args, "--delete-untagged")
	}
	args = append(args, r.ConfigPath)
	cmd := exec.Command(d.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("registrytest: %s %s: %v\n%s", d.bin, strings.Join(args, " "), err, out.String())
		}
	}
	return out.String()
}

// Logs returns the Debian registry's output so far ("" for embedded).
func (r *Registry) Logs() string {
	if r.deb == nil {
		return ""
	}
	r.deb.mu.Lock()
	defer r.deb.mu.Unlock()
	if r.deb.out == nil {
		return ""
	}
	return r.deb.out.String()
}
