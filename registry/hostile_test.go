package registry_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
)

// hostile is an in-process registry on loopback that misbehaves on
// purpose. Every route not given answers 404; GET /v2/ answers 200.
type hostile struct {
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc // by path prefix after /v2/
	wrote  atomic.Int64                // body bytes the endless handlers managed to write
}

func newHostile(t *testing.T) *hostile {
	h := &hostile{routes: map[string]http.HandlerFunc{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hostile) host() string { return strings.TrimPrefix(h.srv.URL, "http://") }

func (h *hostile) route(prefix string, f http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[prefix] = f
}

func (h *hostile) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	h.mu.Lock()
	var f http.HandlerFunc
	best := -1
	for k, v := range h.routes {
		if strings.HasPrefix(p, k) && len(k) > best {
			f, best = v, len(k)
		}
	}
	h.mu.Unlock()
	switch {
	case f != nil:
		f(w, r)
	case p == "":
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, `{"errors":[{"code":"NOT_FOUND"}]}`, http.StatusNotFound)
	}
}

// endless streams zeros until the client goes away.
func (h *hostile) endless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 32<<10)
	for r.Context().Err() == nil {
		n, err := w.Write(buf)
		h.wrote.Add(int64(n))
		if err != nil {
			return
		}
	}
}

func hostileClient(t *testing.T, o registry.Options) *registry.Client {
	t.Helper()
	o.Insecure = true
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	return newClient(t, o)
}

// counter counts what passes.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// A registry that streams an endless body for a 96-byte blob (or manifest)
// costs 97 bytes and a size mismatch, not gigabytes; one that announces
// gigabytes is refused before reading.
func TestHostileEndlessBody(t *testing.T) {
	ctx := context.Background()
	h := newHostile(t)
	h.route("x/blobs/", h.endless)
	h.route("x/manifests/", h.endless)
	h.route("y/blobs/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(3<<30))
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 1024))
	})
	c := hostileClient(t, registry.Options{})
	blob := image.Descriptor{MediaType: image.MediaTypeOCILayerGzip, Digest: image.FromBytes([]byte("the real 96 bytes")), Size: 96}
	man := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: image.FromBytes([]byte("a manifest")), Size: 96}
	s, err := c.Open(ctx, h.host()+"/x:latest")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []image.Descriptor{blob, man} {
		start := time.Now()
		var got counter
		rc, err := s.Open(ctx, d)
		if err == nil {
			_, err = io.Copy(&got, content.Verify(rc, d, "blob"))
			rc.Close()
		}
		if !errors.Is(err, content.ErrSizeMismatch) {
			t.Errorf("%s: %v, want ErrSizeMismatch", d.MediaType, err)
		}
		if got.n > d.Size+1 {
			t.Errorf("%s: read %d bytes of a %d-byte object", d.MediaType, got.n, d.Size)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("%s: took %v", d.MediaType, el)
		}
	}
	repo, err := c.Repo(ctx, h.host()+"/y")
	if err != nil {
		t.Fatal(err)
	}
	// An endless body on the version check (which is drained) ends too.
	h2 := newHostile(t)
	h2.route("", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			h2.endless(w, r)
		}
	})
	start := time.Now()
	if _, err := c.Repo(ctx, h2.host()+"/z"); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("endless /v2/ body: %v after %v", err, time.Since(start))
	}
	if _, err := repo.GetBlob(ctx, blob); !errors.Is(err, content.ErrSizeMismatch) || !strings.Contains(err.Error(), "announces") {
		t.Errorf("3 GiB Content-Length for a 96-byte blob: %v", err)
	}
}

// stall blocks until the client gives up (or the test ends).
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

// A registry that stalls (no headers; headers then silence; headers then a
// byte now and then; a TCP peer that never starts TLS) fails within its
// timeout with an error naming the host and what stalled.
func TestHostileStalls(t *testing.T) {
	ctx := context.Background()
	const short = 300 * time.Millisecond
	h := newHostile(t)
	h.route("headers/", func(w http.ResponseWriter, r *http.Request) { stall(r) })
	h.route("silent/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		stall(r)
	})
	h.route("drip/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(short / 10)
		}
	})
	c := hostileClient(t, registry.Options{ResponseHeaderTimeout: short, IdleBodyTimeout: short, TLSHandshakeTimeout: short})
	blob := image.Descriptor{Digest: image.FromBytes([]byte("x")), Size: 1 << 20}
	for _, tc := range []struct{ repo, phase, says string }{
		{"headers", registry.PhaseHeaders, "no response headers within 300ms"},
		{"silent", registry.PhaseBody, "sent nothing for 300ms"},
		{"drip", registry.PhaseBody, "less than 1 KiB in 300ms"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			start := time.Now()
			repo, err := c.Repo(ctx, h.host()+"/"+tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := repo.GetBlob(ctx, blob)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			var te *registry.TimeoutError
			if !errors.As(err, &te) || te.Phase != tc.phase || te.Host != h.host() || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), h.host()) {
				t.Fatalf("err = %v; want a %s timeout naming %s", err, tc.phase, h.host())
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("gave up after %v, timeout %v", el, short)
			}
		})
	}

	t.Run("connect", func(t *testing.T) {
		addr := fullListener(t)
		cc := newClient(t, registry.Options{ConnectTimeout: short, MaxRetries: -1})
		start := time.Now()
		_, err := cc.Repo(ctx, addr+"/app")
		var te *registry.TimeoutError
		if !errors.As(err, &te) || te.Phase != registry.PhaseConnect || !strings.Contains(err.Error(), addr) {
			t.Fatalf("err = %v; want a connect timeout naming %s", err, addr)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("gave up after %v", el)
		}
	})

	t.Run("tls", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				defer conn.Close() // held open, silent, until the test ends
			}
		}()
		tc := newClient(t, registry.Options{TLSHandshakeTimeout: short, MaxRetries: -1})
		start := time.Now()
		_, err = tc.Repo(ctx, ln.Addr().String()+"/app")
		var te *registry.TimeoutError
		if !errors.As(err, &te) || te.Phase != registry.PhaseTLS || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Fatalf("err = %v; want a TLS handshake timeout naming %s", err, ln.Addr())
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("gave up after %v", el)
		}
	})
}

// realm is a token server that records the Authorization headers it gets.
type realm struct {
	srv  *httptest.Server
	mu   sync.Mutex
	auth []string
}

func (rl *realm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rl.mu.Lock()
	rl.auth = append(rl.auth, r.Header.Get("Authorization"))
	rl.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]string{"token": "t0ken"})
}

func (rl *realm) got() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]string(nil), rl.auth...)
}

// tokenRegistry makes h answer 401 with a Bearer challenge naming realmURL
// until it sees the token.
func tokenRegistry(h *hostile, realmURL string) {
	h.route("", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="hostile"`, realmURL))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// Credentials never go in clear to a realm on another host (here plain
// HTTP on another loopback port), and never to a realm on another site over
// HTTPS unless allowed.
func TestCredentialsStayHome(t *testing.T) {
	ctx := context.Background()
	t.Run("plain HTTP realm on another port", func(t *testing.T) {
		rl := &realm{}
		rl.srv = httptest.NewServer(rl)
		defer rl.srv.Close()
		h := newHostile(t)
		tokenRegistry(h, strings.Replace(rl.srv.URL, "127.0.0.1", "localhost", 1)+"/token")
		c := hostileClient(t, registry.Options{Username: "alice", Password: "s3cret"})
		_, err := c.Repo(ctx, h.host()+"/app")
		if !errors.Is(err, registry.ErrCredentialsRefused) || !strings.Contains(err.Error(), "plain HTTP") {
			t.Fatalf("err = %v, want ErrCredentialsRefused", err)
		}
		for _, a := range rl.got() {
			if a != "" {
				t.Fatalf("the realm received credentials: %q", a)
			}
		}
	})

	t.Run("HTTPS realm on another site", func(t *testing.T) {
		rl := &realm{}
		rl.srv = httptest.NewTLSServer(rl)
		defer rl.srv.Close()
		_, port, _ := net.SplitHostPort(rl.srv.Listener.Addr().String())
		// The test server's certificate names example.com; route that name
		// to it on loopback.
		realmURL := "https://example.com:" + port + "/token"
		pool := x509.NewCertPool()
		pool.AddCert(rl.srv.Certificate())
		h := newHostile(t)
		tokenRegistry(h, realmURL)
		tr := &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if strings.HasPrefix(addr, "example.com:") {
					addr = "127.0.0.1:" + port
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}
		for _, allow := range []bool{false, true} {
			c := hostileClient(t, registry.Options{Username: "alice", Password: "s3cret", Transport: tr, AllowCrossHostAuth: allow})
			before := len(rl.got())
			_, err := c.Repo(ctx, h.host()+"/app")
			got := rl.got()[before:]
			if !allow {
				if !errors.Is(err, registry.ErrCredentialsRefused) || !strings.Contains(err.Error(), "example.com") {
					t.Fatalf("not allowed: err = %v, want ErrCredentialsRefused naming the realm", err)
				}
				if len(got) != 0 {
					t.Fatalf("not allowed: the realm received %q", got)
				}
				continue
			}
			if err != nil {
				t.Fatalf("allowed: %v", err)
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], "Basic ") {
				t.Fatalf("allowed: the realm received %q, want Basic credentials", got)
			}
		}
	})
}

// A tag list or catalog that never ends (a Link to yet another page, or
// more entries than the cap in one page) stops at the cap with a
// ListLimitError saying the cap.
func TestListingCaps(t *testing.T) {
	ctx := context.Background()
	h := newHostile(t)
	var pages atomic.Int64
	page := func(key string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			n := pages.Add(1)
			var names []string
			for i := range 1000 {
				names = append(names, fmt.Sprintf("n%d-%d", n, i))
			}
			w.Header().Set("Link", fmt.Sprintf(`<%s?last=n%d-999&n=1000>; rel="next"`, r.URL.Path, n))
			json.NewEncoder(w).Encode(map[string][]string{key: names})
		}
	}
	h.route("app/tags/list", page("tags"))
	h.route("_catalog", page("repositories"))
	h.route("big/tags/list", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, registry.DefaultMaxTags+1)
		for i := range names {
			names[i] = "t" + strconv.Itoa(i)
		}
		json.NewEncoder(w).Encode(map[string][]string{"tags": names})
	})
	c := hostileClient(t, registry.Options{MaxTags: 2500, MaxRepos: 1500})
	repo, err := c.Repo(ctx, h.host()+"/app")
	if err != nil {
		t.Fatal(err)
	}
	_, err = repo.Tags(ctx)
	var le *registry.ListLimitError
	if !errors.As(err, &le) || le.Limit != 2500 || le.What != "tags" || !strings.Contains(err.Error(), "more than 2500 tags") {
		t.Fatalf("endless tags: %v", err)
	}
	if n := pages.Load(); n != 3 {
		t.Errorf("fetched %d pages, want 3 (stopped at the cap)", n)
	}
	_, err = c.Catalog(ctx, h.host())
	if !errors.As(err, &le) || le.Limit != 1500 || le.What != "repositories" {
		t.Fatalf("endless catalog: %v", err)
	}
	big, _ := hostileClient(t, registry.Options{}).Repo(ctx, h.host()+"/big")
	if _, err := big.Tags(ctx); !errors.As(err, &le) || le.Limit != registry.DefaultMaxTags {
		t.Fatalf("default cap: %v", err)
	}
}

// fullListener returns the address of a loopback socket that listens with
// a backlog of 0 and never accepts, its queue already filled: the kernel
// drops further SYNs, so connecting to it stalls (all on loopback).
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the queue until a connection attempt stalls.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("the kernel queued every connection; connecting never stalled")
	return ""
}
