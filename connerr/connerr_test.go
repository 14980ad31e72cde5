package connerr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/connerr"
)

// TestClassify provokes each failure for real and checks its kind.
func TestClassify(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	defer plainSrv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	defer silent.Close()

	get := func(url string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	cases := []struct {
		name string
		err  error
		want connerr.Kind
	}{
		{"refused", get("http://"+closedAddr+"/", 5*time.Second), connerr.Refused},
		{"untrusted certificate", get(tlsSrv.URL, 5*time.Second), connerr.TLS},
		{"plain HTTP answer to https", get(strings.Replace(plainSrv.URL, "http:", "https:", 1), 5*time.Second), connerr.PlainHTTP},
		{"timeout", get("http://"+silent.Addr().String()+"/", 200*time.Millisecond), connerr.Timeout},
		{"no socket", func() error { _, err := net.Dial("unix", filepath.Join(t.TempDir(), "x.sock")); return err }(), connerr.NoSocket},
		{"DNS", get("http://nosuch.invalid/", 10*time.Second), connerr.DNS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error provoked")
			}
			if c.want == connerr.DNS {
				var dns *net.DNSError
				if errors.As(c.err, &dns) && dns.IsTimeout {
					t.Skip("no resolver answers here: ", c.err)
				}
			}
			err := connerr.Classify("srv", fmt.Errorf("wrapped: %w", c.err))
			var ce *connerr.Error
			if !errors.As(err, &ce) || ce.Kind != c.want {
				t.Fatalf("Classify(%v) = %v, want kind %v", c.err, err, c.want)
			}
			if k, ok := connerr.KindOf(err); !ok || k != c.want || strings.Contains(err.Error(), "\n") {
				t.Errorf("KindOf = %v, %v; error %q", k, ok, err)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("the cause is not kept for errors.Is")
			}
		})
	}
	if err := connerr.Classify("srv", errors.New("HTTP 404")); err.Error() != "HTTP 404" {
		t.Errorf("a non-connection error was changed: %v", err)
	}
	if err := connerr.Classify("srv", context.Canceled); err != context.Canceled {
		t.Errorf("cancellation was changed: %v", err)
	}
}
