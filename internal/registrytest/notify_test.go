package registrytest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
)

// event is the part of a distribution notification event the test reads.
type event struct {
	Action string `json:"action"`
	Target struct {
		MediaType  string       `json:"mediaType"`
		Digest     image.Digest `json:"digest"`
		Repository string       `json:"repository"`
		Tag        string       `json:"tag"`
	} `json:"target"`
}

// sink is an HTTP endpoint that records notification envelopes and the
// Authorization header each came with.
type sink struct {
	mu     sync.Mutex
	events []event
	auths  []string
	types  []string
	got    chan struct{}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var env struct {
		Events []event `json:"events"`
	}
	if r.Method != http.MethodPost || json.Unmarshal(body, &env) != nil {
		http.Error(w, "bad envelope", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, env.Events...)
	s.auths = append(s.auths, r.Header.Get("Authorization"))
	s.types = append(s.types, r.Header.Get("Content-Type"))
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusOK)
}

// manifestPush returns the push event of a manifest tagged tag in repo.
func (s *sink) manifestPush(repo, tag string) (event, []string, []string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Action == "push" && e.Target.Repository == repo && e.Target.Tag == tag && strings.Contains(e.Target.MediaType, "manifest") {
			return e, append([]string(nil), s.auths...), append([]string(nil), s.types...), true
		}
	}
	return event{}, nil, nil, false
}

// TestNotifications configures notifications.endpoints on both registry
// kinds, pushes an image with real skopeo and waits for the registry's POST
// of the manifest push event, with the configured header.
func TestNotifications(t *testing.T) {
	ctx := context.Background()
	layout := filepath.Join(t.TempDir(), "layout")
	want := fixture.WriteLayout(t, layout, "v1", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "etc/hello", Body: []byte("hi\n")}}}}})
	for _, kind := range []string{"embedded", "debian"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s := &sink{got: make(chan struct{}, 1)}
			srv := httptest.NewServer(s)
			defer srv.Close()
			o := registrytest.Options{TLS: true, Auth: true, Notify: []registrytest.Endpoint{{
				URL: srv.URL + "/hook", Headers: http.Header{"Authorization": {"Bearer hook-secret"}},
				Timeout: 2 * time.Second, Threshold: 3, Backoff: 500 * time.Millisecond, IgnoreActions: []string{"pull"},
			}}}
			var r *registrytest.Registry
			if kind == "embedded" {
				r = registrytest.NewEmbedded(t, o)
			} else {
				r = registrytest.StartDebian(t, o)
			}
			registrytest.PushLayout(t, ctx, r, layout, "v1", "app:v1")
			deadline := time.After(15 * time.Second)
			for {
				if e, auths, types, ok := s.manifestPush("app", "v1"); ok {
					if e.Target.Digest != want.Digest {
						t.Fatalf("push event digest %s, want %s", e.Target.Digest, want.Digest)
					}
					for i, a := range auths {
						if a != "Bearer hook-secret" {
							t.Fatalf("POST %d came with Authorization %q", i, a)
						}
						// 2.8 sends events.v1+json, v3 events.v2+json (same envelope).
						if !strings.HasPrefix(types[i], "application/vnd.docker.distribution.events.v") {
							t.Fatalf("POST %d Content-Type %q", i, types[i])
						}
					}
					return
				}
				select {
				case <-s.got:
				case <-deadline:
					t.Fatalf("no manifest push event for app:v1 within 15s; registry log:\n%s", r.Logs())
				}
			}
		})
	}
}
