package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedWriter is a buffer written by a running command and read by the test.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServe runs strata serve with args until the returned stop is
// called (as SIGINT would: its context is cancelled); it returns the base
// URL and what serve wrote on stderr so far.
func startServe(t *testing.T, args ...string) (base string, stderr *lockedWriter, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &lockedWriter{}
	root := NewRoot(strings.NewReader(""), io.Discard, stderr)
	root.SetArgs(append([]string{"serve", "--listen", "127.0.0.1:0", "--sweep", "0", "--workers", "1"}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen in 30s:\n%s", stderr)
		}
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop within 20s of its context ending")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return base, stderr, stop
}

// TestServeLifecycle: serve answers /healthz, prints the API token on its
// first start only, and stops cleanly (exit 0) when its context ends.
func TestServeLifecycle(t *testing.T) {
	isolate(t)
	db := filepath.Join(t.TempDir(), "fleet.db")
	base, stderr, stop := startServe(t, "--db", db)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(stderr.String(), "API token (shown once") {
		t.Errorf("first start printed no token:\n%s", stderr)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no store at --db: %v", err)
	}
	_, stderr, stop = startServe(t, "--db", db)
	if strings.Contains(stderr.String(), "API token") {
		t.Errorf("second start printed a token again:\n%s", stderr)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFleetCommandErrors(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "fleet.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--db", db, "--webhook-secret-file", empty}, "is empty"},
		{[]string{"serve", "--db", db, "--webhook-secret-file", filepath.Join(dir, "missing")}, "--webhook-secret-file"},
		{[]string{"serve", "--db", db, "--workers", "-1"}, "--workers -1"},
		{[]string{"serve", "--db", db, "--job-timeout", "1h", "--rescue-after", "30m"}, "--rescue-after"},
		{[]string{"worker", "--db", db, "--workers", "0"}, "at least one"},
		{[]string{"worker", "--db", db, "--registry", "reg.example/app:1"}, "host[:port]"},
		{[]string{"serve", "extra"}, "unknown command"},
	} {
		_, errs, code := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying %q", c.args, code, errs, c.want)
		}
	}
}
