package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stratascan/strata/fleet"
	"github.com/stratascan/strata/fleet/web"
	"github.com/stratascan/strata/secret"
)

// The fleet's service is the handler's queue.
var _ web.Queue = (*fleet.Service)(nil)

// TestWithFleetService puts the handler in front of the real job engine
// (fleet.Service, insert-only, River on the same SQLite store): a
// registry's push notification and a scan asked through the API become
// River jobs that /api/v1/status and /metrics count.
func TestWithFleetService(t *testing.T) {
	eng, err := secret.New(secret.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var svc *fleet.Service
	f := newFixtureWith(t, dialects[0].dsn(t), nil, func(c *web.Config) {
		svc, err = fleet.New(context.Background(), fleet.Config{Store: c.Store, Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		c.Queue = svc
	})
	auth := "Bearer " + f.token
	code, _, body := f.do(t, "POST", "/hook", "Bearer "+hookSecret, strings.NewReader(readCaptured(t, "distribution-v3", "push-manifest.json")),
		map[string]string{"Content-Type": "application/vnd.docker.distribution.events.v2+json"})
	if code != 200 || !strings.Contains(body, `"enqueued": 1`) {
		t.Fatalf("hook: %d %s", code, body)
	}
	for _, c := range []struct {
		ref  string
		code int
	}{{"127.0.0.1:5000/team/app:1.0", 202}, {"oci:/tmp/layout:latest", 400}, {"not a ref!", 400}} {
		if code, _, body := f.do(t, "POST", "/api/v1/scan", auth, strings.NewReader(`{"ref":"`+c.ref+`"}`), nil); code != c.code {
			t.Errorf("scan %s: %d, want %d: %s", c.ref, code, c.code, body)
		}
	}
	_, _, body = f.do(t, "GET", "/api/v1/status", auth, nil, nil)
	st := decode[struct{ Queue map[string]int }](t, body)
	if st.Queue["available"] != 2 {
		t.Errorf("queue %v: want 2 available jobs (the push and the scan)", st.Queue)
	}
	if _, _, body := f.do(t, "GET", "/metrics", auth, nil, nil); !strings.Contains(body, `strata_jobs{state="available"} 2`) {
		t.Errorf("metrics do not count the 2 available jobs")
	}
}
