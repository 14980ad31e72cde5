package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/registry"
)

// faultProxy is a reverse proxy in front of a real (embedded) registry that
// injects what a real registry cannot be made to do on demand: 429, 5xx,
// dropped connections, truncated bodies, stripped headers, altered bodies.
type faultProxy struct {
	upstream *url.URL
	rp       *httputil.ReverseProxy
	srv      *httptest.Server

	mu    sync.Mutex
	rules []*rule
	seen  []string
}

type rule struct {
	method, path string // path: substring of the request URI
	n            int    // remaining injections; -1 = forever
	fn           func(p *faultProxy, w http.ResponseWriter, r *http.Request)
}

func newFaultProxy(t *testing.T, r *registrytest.Registry) *faultProxy {
	u, _ := url.Parse(r.URL())
	p := &faultProxy{upstream: u, rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = httptest.NewServer(p)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *faultProxy) add(rl *rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rl)
}

func (p *faultProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.seen = nil, nil
}

func (p *faultProxy) count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.seen {
		if strings.HasPrefix(s, method+" ") && strings.Contains(s, path) {
			n++
		}
	}
	return n
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	entry := r.Method + " " + r.URL.RequestURI()
	if rg := r.Header.Get("Range"); rg != "" {
		entry += " Range:" + rg
	}
	p.seen = append(p.seen, entry)
	var hit *rule
	for _, rl := range p.rules {
		if rl.n != 0 && (rl.method == "" || rl.method == r.Method) && strings.Contains(r.URL.RequestURI(), rl.path) {
			if rl.n > 0 {
				rl.n--
			}
			hit = rl
			break
		}
	}
	p.mu.Unlock()
	if hit != nil {
		hit.fn(p, w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// fetch performs r against the upstream registry and returns the response.
func (p *faultProxy) fetch(r *http.Request) (*http.Response, []byte) {
	u := *p.upstream
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	req.Header = r.Header.Clone()
	req.Host = r.Host
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// digestIs turns a wrong digest into an error.
func digestIs(d image.Descriptor, err error, want image.Digest) error {
	if err == nil && d.Digest != want {
		err = errors.New("wrong digest " + string(d.Digest))
	}
	return err
}

func status(code int, hdr ...string) func(*faultProxy, http.ResponseWriter, *http.Request) {
	return func(_ *faultProxy, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, `{"errors":[{"code":"UNKNOWN","message":"injected by the test proxy"}]}`)
	}
}

func drop(*faultProxy, http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }

// TestFaults: retries, resumption and verification against failures
// injected between the client and a real distribution v3 registry.
func TestFaults(t *testing.T) {
	ctx := context.Background()
	r := registrytest.NewEmbedded(t, registrytest.Options{})
	p := newFaultProxy(t, r)
	big := make([]byte, 1<<20)
	rand.Read(big)
	repo := r.Repo(t, ctx, "faults")
	m, layers := registrytest.PushImage(t, ctx, repo, "v1", "", "", big)
	for i := 0; i < 5; i++ {
		registrytest.PushManifest(t, ctx, repo, "extra"+string(rune('a'+i)), m.MediaType, mustGet(t, repo, "v1"))
	}
	blob := layers[0]
	manifestPath := "/manifests/"
	blobPath := "/blobs/" + string(blob.Digest)

	type result struct {
		err     error
		elapsed time.Duration
	}
	// readBlob streams the layer blob through content.Verify.
	readBlob := func(c *registry.Repo) error {
		rc, err := c.GetBlob(ctx, blob)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, content.Verify(rc, blob, "layer"))
		return err
	}
	// succeedsWithGETs: the operation worked after exactly n manifest GETs.
	succeedsWithGETs := func(n int) func(*testing.T, result) {
		return func(t *testing.T, res result) {
			if res.err != nil {
				t.Fatal(res.err)
			}
			if got := p.count("GET", manifestPath); got != n {
				t.Fatalf("%d GETs, want %d", got, n)
			}
		}
	}
	cases := []struct {
		name    string
		retries int
		rules   []*rule
		op      func(c *registry.Repo) error
		check   func(t *testing.T, res result)
	}{
		{
			name:  "429 with Retry-After, then success",
			rules: []*rule{{method: "HEAD", path: manifestPath, n: 1, fn: status(429, "Retry-After", "1")}},
			op:    func(c *registry.Repo) error { _, err := c.HeadManifest(ctx, "v1"); return err },
			check: func(t *testing.T, res result) {
				if res.err != nil {
					t.Fatal(res.err)
				}
				if res.elapsed < time.Second {
					t.Fatalf("retried after %v, before the 1s Retry-After", res.elapsed)
				}
				if n := p.count("HEAD", manifestPath); n != 2 {
					t.Fatalf("%d HEADs, want 2", n)
				}
			},
		},
		{
			name:  "503 twice, then success",
			rules: []*rule{{method: "GET", path: manifestPath, n: 2, fn: status(503)}},
			op: func(c *registry.Repo) error {
				d, _, err := c.GetManifest(ctx, "v1")
				return digestIs(d, err, m.Digest)
			},
			check: succeedsWithGETs(3),
		},
		{
			name:    "persistent 500 gives up after MaxRetries",
			retries: 2,
			rules:   []*rule{{method: "GET", path: manifestPath, n: -1, fn: status(500)}},
			op:      func(c *registry.Repo) error { _, _, err := c.GetManifest(ctx, "v1"); return err },
			check: func(t *testing.T, res result) {
				var se *registry.StatusError
				if !errors.As(res.err, &se) || se.StatusCode != 500 || !strings.Contains(res.err.Error(), "after 3 attempts") ||
					!strings.Contains(res.err.Error(), "retry later") {
					t.Fatalf("error %v: want a 500 StatusError after 3 attempts that says what to do", res.err)
				}
				if n := p.count("GET", manifestPath); n != 3 {
					t.Fatalf("%d GETs, want 3", n)
				}
				t.Logf("error: %v", res.err)
			},
		},
		{
			name:    "persistent 429 is ErrTooManyRequests",
			retries: 1,
			rules:   []*rule{{method: "GET", path: "/tags/list", n: -1, fn: status(429, "Retry-After", "0")}},
			op:      func(c *registry.Repo) error { _, err := c.Tags(ctx); return err },
			check: func(t *testing.T, res result) {
				if !errors.Is(res.err, registry.ErrTooManyRequests) {
					t.Fatalf("error %v: want ErrTooManyRequests", res.err)
				}
			},
		},
		{
			name:  "connection dropped before the response",
			rules: []*rule{{method: "GET", path: manifestPath, n: 1, fn: drop}},
			op:    func(c *registry.Repo) error { _, _, err := c.GetManifest(ctx, "v1"); return err },
			check: func(t *testing.T, res result) {
				if res.err != nil {
					t.Fatal(res.err)
				}
			},
		},
		{
			name: "blob truncated mid-stream is resumed with Range",
			rules: []*rule{{method: "GET", path: blobPath, n: 1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				resp, b := p.fetch(r)
				for k, v := range resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(resp.StatusCode)
				w.Write(b[:len(b)/3])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}}},
			op: readBlob,
			check: func(t *testing.T, res result) {
				if res.err != nil {
					t.Fatal(res.err)
				}
				if n := p.count("GET", "Range:bytes="); n != 1 {
					t.Fatalf("%d ranged GETs, want 1 (seen %v)", n, p.seen)
				}
			},
		},
		{
			name:    "blob truncated every time: size mismatch after bounded resumes",
			retries: 2,
			rules: []*rule{{method: "GET", path: blobPath, n: -1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1048576")
				w.WriteHeader(200)
				w.Write([]byte("short"))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}}},
			op: readBlob,
			check: func(t *testing.T, res result) {
				if res.err == nil {
					t.Fatal("a truncated blob verified")
				}
				if n := p.count("GET", blobPath); n != 3 {
					t.Fatalf("%d blob GETs, want 3 (1 + 2 resumes)", n)
				}
			},
		},
		{
			name: "Link header stripped: paging continues with last=",
			rules: []*rule{{method: "GET", path: "/tags/list", n: -1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				resp, b := p.fetch(r)
				for k, v := range resp.Header {
					if k != "Link" {
						w.Header()[k] = v
					}
				}
				w.WriteHeader(resp.StatusCode)
				w.Write(b)
			}}},
			op: func(c *registry.Repo) error {
				tags, err := c.Tags(ctx)
				if err == nil && len(tags) != 6 {
					err = errors.New("incomplete tags: " + strings.Join(tags, ","))
				}
				return err
			},
			check: func(t *testing.T, res result) {
				if res.err != nil {
					t.Fatal(res.err)
				}
				if n := p.count("GET", "last="); n < 2 {
					t.Fatalf("%d last= requests, want >= 2", n)
				}
			},
		},
		{
			name: "HEAD without Docker-Content-Digest falls back to GET and hash",
			rules: []*rule{{method: "HEAD", path: manifestPath, n: -1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				resp, _ := p.fetch(r)
				for k, v := range resp.Header {
					if k != "Docker-Content-Digest" {
						w.Header()[k] = v
					}
				}
				w.WriteHeader(resp.StatusCode)
			}}},
			op: func(c *registry.Repo) error {
				d, err := c.HeadManifest(ctx, "v1")
				return digestIs(d, err, m.Digest)
			},
			check: succeedsWithGETs(1),
		},
		{
			name: "manifest over 8 MiB is refused",
			rules: []*rule{{method: "GET", path: manifestPath, n: -1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", image.MediaTypeOCIManifest)
				w.WriteHeader(200)
				w.Write(bytes.Repeat([]byte(" "), 9<<20))
			}}},
			op: func(c *registry.Repo) error { _, _, err := c.GetManifest(ctx, "v1"); return err },
			check: func(t *testing.T, res result) {
				if !errors.Is(res.err, content.ErrTooLarge) {
					t.Fatalf("error %v: want ErrTooLarge", res.err)
				}
			},
		},
		{
			name: "manifest altered in transit is a digest mismatch",
			rules: []*rule{{method: "GET", path: manifestPath + string(m.Digest), n: -1, fn: func(p *faultProxy, w http.ResponseWriter, r *http.Request) {
				resp, b := p.fetch(r)
				for k, v := range resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(resp.StatusCode)
				w.Write(bytes.Replace(b, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1))
			}}},
			op: func(c *registry.Repo) error { _, _, err := c.GetManifest(ctx, string(m.Digest)); return err },
			check: func(t *testing.T, res result) {
				if !errors.Is(res.err, content.ErrDigestMismatch) {
					t.Fatalf("error %v: want ErrDigestMismatch", res.err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset()
			for _, rl := range tc.rules {
				p.add(rl)
			}
			o := r.ClientOptions()
			o.Insecure = true
			o.TagPageSize = 2
			if tc.retries != 0 {
				o.MaxRetries = tc.retries
			}
			c := newClient(t, o)
			repo, err := c.Repo(ctx, p.host()+"/faults")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tc.op(repo)
			tc.check(t, result{err: err, elapsed: time.Since(start)})
		})
	}
}
