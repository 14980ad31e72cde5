package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/fleet/web"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/registrytest"
)

var update = flag.Bool("update", false, "rewrite the captured notification bodies in testdata/hook")

// captured keeps the notification bodies a registry posted.
type captured struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *captured) add(b []byte) { c.mu.Lock(); defer c.mu.Unlock(); c.bodies = append(c.bodies, b) }

func (c *captured) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

// events counts the captured events by action and whether their target is
// a manifest.
func (c *captured) events(t *testing.T) (manifestPushes, otherPushes, pulls int) {
	for _, b := range c.all() {
		env, err := web.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("captured body: %v", err)
		}
		for _, e := range env.Events {
			switch {
			case e.Action == "push" && image.IsManifest(e.Target.MediaType):
				manifestPushes++
			case e.Action == "push":
				otherPushes++
			case e.Action == "pull":
				pulls++
			}
		}
	}
	return
}

// TestWebhookFromRegistry points the notifications of a distribution v3
// registry (in process) and of Debian's docker-registry 2.8 at the
// handler, pushes an OCI image, a Docker image and an OCI index of both
// (by digest) and pulls one: the queue gets exactly the three manifest
// pushes, each within a second, none of the blob pushes nor the pull. The
// registries' bodies are kept in testdata/hook/KIND (-update) as the
// webhook and fuzz fixtures.
func TestWebhookFromRegistry(t *testing.T) {
	for _, kind := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"distribution-v3", registrytest.NewEmbedded}, {"debian-2.8", registrytest.StartDebian}} {
		t.Run(kind.name, func(t *testing.T) { testWebhookFromRegistry(t, kind.start, kind.name) })
	}
}

func testWebhookFromRegistry(t *testing.T, start func(testing.TB, registrytest.Options) *registrytest.Registry, kind string) {
	var got captured
	f := newFixtureWith(t, dialects[0].dsn(t), func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hook" {
				b, _ := io.ReadAll(io.LimitReader(r.Body, web.MaxHookBody+1))
				got.add(b)
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			inner.ServeHTTP(w, r)
		})
	})
	reg := start(t, registrytest.Options{Notify: []registrytest.Endpoint{{URL: f.srv.URL + "/hook",
		Headers: http.Header{"Authorization": {"Bearer " + hookSecret}}}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	repo := reg.Repo(t, ctx, "team/app")
	pushed := map[image.Digest]time.Time{} // when each manifest push returned
	oci, _ := registrytest.PushImage(t, ctx, repo, "1.0", image.MediaTypeOCIManifest, "", []byte("layer one"))
	pushed[oci.Digest] = time.Now()
	docker, _ := registrytest.PushImage(t, ctx, repo, "docker", image.MediaTypeDockerManifest, "", []byte("layer two"))
	pushed[docker.Digest] = time.Now()
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": image.MediaTypeOCIIndex,
		"manifests": []image.Descriptor{oci, docker}})
	index := registrytest.PushManifest(t, ctx, repo, "", image.MediaTypeOCIIndex, idx)
	pushed[index.Digest] = time.Now()
	if _, _, err := repo.GetManifest(ctx, "1.0"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("%s team/app 1.0 %s", reg.Host, oci.Digest),
		fmt.Sprintf("%s team/app docker %s", reg.Host, docker.Digest),
		fmt.Sprintf("%s team/app  %s", reg.Host, index.Digest),
	}
	sort.Strings(want)
	// Delivery is asynchronous: wait for the pull's event, the last sent.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, pulls := got.events(t); pulls > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pull event within 20s; %d bodies so far", len(got.all()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var pushes []string
	var slowest time.Duration
	for _, c := range f.queue.Calls() {
		pushes = append(pushes, fmt.Sprintf("%s %s %s %s", c.Registry, c.Repository, c.Tag, c.Manifest))
		// The registry notifies after the manifest is stored, so the push
		// may return a moment after the enqueue: negative delays count 0.
		slowest = max(slowest, c.At.Sub(pushed[c.Manifest]))
	}
	t.Logf("slowest push-to-enqueue delay: %v", slowest)
	if slowest > time.Second {
		t.Errorf("a push was enqueued %v after it returned, want within a second", slowest)
	}
	sort.Strings(pushes)
	if strings.Join(pushes, "\n") != strings.Join(want, "\n") {
		t.Errorf("enqueued\n%s\nwant\n%s", strings.Join(pushes, "\n"), strings.Join(want, "\n"))
	}
	manifests, blobs, _ := got.events(t)
	if manifests < 3 || blobs < 4 {
		t.Errorf("the registry sent %d manifest and %d blob push events, want at least 3 and 4 (the test pushes them)", manifests, blobs)
	}
	if *update {
		writeCaptured(t, kind, got.all())
	}
}

// writeCaptured saves the first body with a manifest push, one with a
// blob push and one with a pull, of each registry kind.
func writeCaptured(t *testing.T, kind string, bodies [][]byte) {
	dir := filepath.Join("testdata", "hook", kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range bodies {
		env, _ := web.ParseEnvelope(b)
		e := env.Events[0]
		name := e.Action + "-blob"
		if image.IsManifest(e.Target.MediaType) {
			name = e.Action + "-manifest"
			if image.IsIndex(e.Target.MediaType) {
				name = e.Action + "-index"
			}
		}
		if names[name] {
			continue
		}
		names[name] = true
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readCaptured(t *testing.T, kind, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hook", kind, name))
	if err != nil {
		t.Fatalf("%v (run go test -run TestWebhookFromRegistry -update)", err)
	}
	return string(b)
}

// TestWebhookRequests: the registry's own bodies, replayed with wrong
// secrets, wrong types, oversize and broken bodies, and to a failing queue.
func TestWebhookRequests(t *testing.T) {
	for _, kind := range []struct{ name, ct string }{
		{"distribution-v3", "application/vnd.docker.distribution.events.v2+json"},
		{"debian-2.8", "application/vnd.docker.distribution.events.v1+json"},
	} {
		t.Run(kind.name, func(t *testing.T) { testWebhookRequests(t, kind.name, kind.ct) })
	}
}

func testWebhookRequests(t *testing.T, kind, ct string) {
	manifest := readCaptured(t, kind, "push-manifest.json")
	index := readCaptured(t, kind, "push-index.json")
	blob := readCaptured(t, kind, "push-blob.json")
	pull := readCaptured(t, kind, "pull-manifest.json")
	auth := "Bearer " + hookSecret
	// Over the bound: the registry's blob event, repeated.
	var env map[string][]json.RawMessage
	if err := json.Unmarshal([]byte(blob), &env); err != nil {
		t.Fatal(err)
	}
	var one bytes.Buffer
	if err := json.Compact(&one, env["events"][0]); err != nil {
		t.Fatal(err)
	}
	env["events"][0] = one.Bytes()
	for len(env["events"])*one.Len() <= web.MaxHookBody {
		env["events"] = append(env["events"], env["events"][0])
	}
	hugeB, _ := json.Marshal(env)
	huge := string(hugeB)
	bad := regexp.MustCompile(`("digest":\s*"sha256:)`).ReplaceAllString(manifest, "${1}zz")
	if bad == manifest {
		t.Fatal("no digest to break in push-manifest.json")
	}
	cases := []struct {
		name, auth, ct, body string
		queueErr             error
		code, enqueued       int
	}{
		{"manifest push", auth, ct, manifest, nil, 200, 1},
		{"index push", auth, ct, index, nil, 200, 1},
		{"plain JSON content type", auth, "application/json", manifest, nil, 200, 1},
		{"blob push ignored", auth, ct, blob, nil, 200, 0},
		{"pull ignored", auth, ct, pull, nil, 200, 0},
		{"bad digest acknowledged", auth, ct, bad, nil, 200, 0},
		{"no secret", "", ct, manifest, nil, 401, 0},
		{"wrong secret", "Bearer " + hookSecret + "x", ct, manifest, nil, 401, 0},
		{"API token is not the hook secret", "Bearer strata_x", ct, manifest, nil, 401, 0},
		{"wrong content type", auth, "text/plain", manifest, nil, 415, 0},
		{"too big", auth, ct, huge, nil, 413, 0},
		{"bad JSON", auth, ct, manifest[:len(manifest)/2], nil, 400, 0},
		{"not an envelope", auth, ct, `[1,2]`, nil, 400, 0},
		{"trailing data", auth, ct, manifest + "{}", nil, 400, 0},
		{"queue down", auth, ct, manifest, fmt.Errorf("database is locked"), 503, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.queue.fail(c.queueErr)
			code, _, body := f.do(t, "POST", "/hook", c.auth, strings.NewReader(c.body), map[string]string{"Content-Type": c.ct})
			if code != c.code {
				t.Fatalf("status %d, want %d: %s", code, c.code, body)
			}
			if n := len(f.queue.Calls()); n != c.enqueued {
				t.Errorf("%d enqueued, want %d", n, c.enqueued)
			}
			if code >= 400 && !strings.Contains(body, `"error"`) {
				t.Errorf("no JSON error: %s", body)
			}
		})
	}
}

// TestWebhookHeader: with WebhookHeader set, the secret comes in that
// header, once, as is; the Authorization header no longer counts.
func TestWebhookHeader(t *testing.T) {
	f := newFixtureWith(t, dialects[0].dsn(t), nil, func(c *web.Config) { c.WebhookHeader = "x-strata-webhook-secret" })
	manifest := readCaptured(t, "distribution-v3", "push-manifest.json")
	cases := []struct {
		name string
		hdr  map[string]string
		auth string
		code int
	}{
		{"custom header", map[string]string{"X-Strata-Webhook-Secret": hookSecret}, "", 200},
		{"wrong value", map[string]string{"X-Strata-Webhook-Secret": hookSecret + "!"}, "", 401},
		{"bearer instead", nil, "Bearer " + hookSecret, 401},
	}
	for _, c := range cases {
		code, _, body := f.do(t, "POST", "/hook", c.auth, strings.NewReader(manifest), c.hdr)
		if code != c.code {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.code, body)
		}
	}
	if n := len(f.queue.Calls()); n != 1 {
		t.Errorf("%d enqueued, want 1", n)
	}
}
