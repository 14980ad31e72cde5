package registrytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
)

// ProxyOptions configure a Proxy.
type ProxyOptions struct {
	// OnRequest is called with every request before it is forwarded, from
	// the request's own goroutine: blocking in it delays that request (and
	// only it). Tests use it to hold a DELETE until another client's push
	// has landed, so interleavings are decided, not left to timing. It
	// must return when the request's context ends.
	OnRequest func(*http.Request)
	// Referrers makes the proxy serve the OCI referrers API
	// (GET /v2/<name>/referrers/<digest>, distribution-spec v1.1), which
	// neither distribution 2.8 nor 3.x has: it answers from the manifests
	// with a subject pushed through the proxy, keeping those the registry
	// still serves (a HEAD each), as registries that index subjects at
	// push time do. Pushes answer with an OCI-Subject header.
	Referrers bool
}

// Proxy is a plain-HTTP reverse proxy on 127.0.0.1 in front of a test
// registry, stopped by t.Cleanup.
type Proxy struct {
	// Registry is a view of the same registry through the proxy: its Host
	// is the proxy's, it speaks plain HTTP, and its Client, Repo,
	// SkopeoArgs and the push helpers go through the proxy. Garbage
	// collection and restarts belong on the original Registry.
	Registry *Registry

	opts    ProxyOptions
	backend *url.URL
	rp      *httputil.ReverseProxy
	hc      *http.Client

	mu        sync.Mutex
	counts    map[string]int
	referrers map[string]map[image.Digest][]image.Descriptor // repo -> subject -> referrers
}

type subjectKey struct{}

// Proxy starts a proxy in front of r.
func (r *Registry) Proxy(t testing.TB, opts ProxyOptions) *Proxy {
	t.Helper()
	backend, err := url.Parse(r.URL())
	if err != nil {
		t.Fatalf("registrytest: proxy: %v", err)
	}
	p := &Proxy{opts: opts, backend: backend, counts: map[string]int{}, referrers: map[string]map[image.Digest][]image.Descriptor{}}
	tr := probeTransport(r.CAFile)
	p.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	p.rp = &httputil.ReverseProxy{
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			// The registry builds upload Location URLs from Host and
			// X-Forwarded-Proto: keep them pointing at the proxy.
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("X-Forwarded-Proto", "http")
		},
		ModifyResponse: func(resp *http.Response) error {
			if ref, ok := resp.Request.Context().Value(subjectKey{}).(*pushedReferrer); ok && resp.StatusCode == http.StatusCreated {
				p.record(ref)
				resp.Header.Set("OCI-Subject", string(ref.subject))
			}
			return nil
		},
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	view := &Registry{Kind: r.Kind, Host: strings.TrimPrefix(srv.URL, "http://"), Username: r.Username, Password: r.Password,
		ReaderUsername: r.ReaderUsername, ReaderPassword: r.ReaderPassword, Root: r.Root, ConfigPath: r.ConfigPath,
		opts: r.opts, dir: r.dir, clients: map[string]*registry.Client{}}
	p.Registry = view
	return p
}

// Counts returns how many requests of each method ("DELETE", "GET", ...)
// the proxy has seen.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	p.counts[req.Method]++
	p.mu.Unlock()
	if p.opts.OnRequest != nil {
		p.opts.OnRequest(req)
		if req.Context().Err() != nil {
			return
		}
	}
	if p.opts.Referrers {
		name, kind, ref := splitPath(req.URL.Path)
		switch {
		case kind == "referrers" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
			p.serveReferrers(w, req, name, image.Digest(ref))
			return
		case kind == "manifests" && req.Method == http.MethodPut:
			body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			if ref := parseReferrer(name, req.Header.Get("Content-Type"), body); ref != nil {
				req = req.WithContext(context.WithValue(req.Context(), subjectKey{}, ref))
			}
		}
	}
	p.rp.ServeHTTP(w, req)
}

// splitPath splits "/v2/<name>/<kind>/<ref>" (kind manifests, blobs,
// referrers, tags).
func splitPath(path string) (name, kind, ref string) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", ""
	}
	for _, k := range []string{"/manifests/", "/blobs/", "/referrers/", "/tags/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			return rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
		}
	}
	return "", "", ""
}

type pushedReferrer struct {
	repo    string
	subject image.Digest
	desc    image.Descriptor
}

// parseReferrer returns the referrer a manifest push creates, if the
// manifest has a subject.
func parseReferrer(repo, mediaType string, body []byte) *pushedReferrer {
	var m struct {
		MediaType    string            `json:"mediaType"`
		ArtifactType string            `json:"artifactType"`
		Config       image.Descriptor  `json:"config"`
		Subject      *image.Descriptor `json:"subject"`
		Annotations  map[string]string `json:"annotations"`
	}
	if json.Unmarshal(body, &m) != nil || m.Subject == nil || m.Subject.Digest == "" {
		return nil
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	sum := sha256.Sum256(body)
	d := image.Descriptor{MediaType: mediaType, Digest: image.Digest("sha256:" + hex.EncodeToString(sum[:])), Size: int64(len(body)),
		ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if d.ArtifactType == "" && m.Config.MediaType != image.MediaTypeOCIEmpty {
		d.ArtifactType = m.Config.MediaType
	}
	return &pushedReferrer{repo: repo, subject: m.Subject.Digest, desc: d}
}

func (p *Proxy) record(ref *pushedReferrer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bySubject := p.referrers[ref.repo]
	if bySubject == nil {
		bySubject = map[image.Digest][]image.Descriptor{}
		p.referrers[ref.repo] = bySubject
	}
	for _, d := range bySubject[ref.subject] {
		if d.Digest == ref.desc.Digest {
			return
		}
	}
	bySubject[ref.subject] = append(bySubject[ref.subject], ref.desc)
}

// serveReferrers answers the referrers API with an OCI index of the
// referrers pushed through the proxy that the registry still serves.
func (p *Proxy) serveReferrers(w http.ResponseWriter, req *http.Request, repo string, subject image.Digest) {
	if _, err := image.ParseDigest(string(subject)); err != nil {
		http.Error(w, `{"errors":[{"code":"DIGEST_INVALID","message":"invalid digest"}]}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	cands := append([]image.Descriptor(nil), p.referrers[repo][subject]...)
	p.mu.Unlock()
	filter := req.URL.Query().Get("artifactType")
	out := []image.Descriptor{}
	for _, d := range cands {
		if filter != "" && d.ArtifactType != filter {
			continue
		}
		if p.exists(req, repo, d.Digest) {
			out = append(out, d)
		}
	}
	body, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: out})
	w.Header().Set("Content-Type", image.MediaTypeOCIIndex)
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// exists HEADs a manifest on the registry with the caller's credentials.
func (p *Proxy) exists(in *http.Request, repo string, d image.Digest) bool {
	u := *p.backend
	u.Path = "/v2/" + repo + "/manifests/" + string(d)
	req, err := http.NewRequestWithContext(in.Context(), http.MethodHead, u.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", strings.Join([]string{image.MediaTypeOCIManifest, image.MediaTypeOCIIndex, image.MediaTypeDockerManifest, image.MediaTypeDockerList}, ", "))
	if a := in.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
