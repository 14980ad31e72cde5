package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this binary as strata itself.
func TestMain(m *testing.M) {
	if os.Getenv("STRATA_TEST_MAIN") == "1" {
		os.Args = append([]string{"strata"}, strings.Fields(os.Getenv("STRATA_TEST_ARGS"))...)
		os.Exit(run())
	}
	os.Exit(m.Run())
}

// A command waiting on a stalled registry (with a long timeout) stops
// within a second of SIGINT or SIGTERM, saying so; a second signal exits
// at once.
func TestSignalsStopCommands(t *testing.T) {
	waiting := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		waiting <- struct{}{}
		select { // stall every other request
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	for _, c := range []struct {
		name  string
		sigs  []syscall.Signal
		codes []int
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}, []int{2}},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, []int{2}},
		{"twice", []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, []int{2, 128 + int(syscall.SIGTERM)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "STRATA_TEST_MAIN=1", "STRATA_TEST_ARGS=ls --insecure --registry-timeout 5m "+ref)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select { // wait until it is waiting on the registry
			case <-waiting:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("strata never reached the registry; stderr %q", stderr.String())
			}
			sent := time.Now()
			for _, s := range c.sigs {
				cmd.Process.Signal(s)
			}
			select {
			case err := <-done:
				if el := time.Since(sent); el > time.Second {
					t.Errorf("stopped %v after the signal", el)
				}
				var ee *exec.ExitError
				code := 0
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
				ok := false
				for _, want := range c.codes {
					ok = ok || code == want
				}
				if !ok || !strings.Contains(stderr.String(), "stopping") {
					t.Errorf("exit code %d, stderr %q; want one of %v and a word about stopping", code, stderr.String(), c.codes)
				}
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 5s after %v; stderr %q", c.sigs, stderr.String())
			}
		})
	}
}
