package registrytest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/sirupsen/logrus"

	// Register the htpasswd access controller and the storage drivers.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

type embedded struct {
	srv         *httptest.Server
	app         atomic.Pointer[handlers.App]
	maintenance atomic.Bool
}

var quietLogs sync.Once

// NewEmbedded starts distribution v3 in this process (handlers.NewApp behind
// an httptest server on 127.0.0.1) with a filesystem root under
// t.TempDir(). It stops on t.Cleanup. Its logs are discarded unless
// STRATA_REGISTRY_LOG=1.
func NewEmbedded(t testing.TB, opts Options) *Registry {
	t.Helper()
	quietLogs.Do(func() {
		if os.Getenv("STRATA_REGISTRY_LOG") != "1" {
			logrus.SetOutput(io.Discard)
			logrus.SetLevel(logrus.PanicLevel)
		}
	})
	r := newRegistry(t, "embedded", opts)
	e := &embedded{}
	r.emb = e
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if e.maintenance.Load() {
			http.Error(w, "registry stopped for maintenance (registrytest)", http.StatusServiceUnavailable)
			return
		}
		e.app.Load().ServeHTTP(w, req)
	}))
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake noise from clients that distrust the CA
	r.Host = e.srv.Listener.Addr().String()
	if err := os.WriteFile(r.ConfigPath, []byte(r.config(r.Host, false)), 0o644); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	e.app.Store(r.newApp(t))
	if r.TLS {
		cert, err := tls.LoadX509KeyPair(r.ca.certFile, r.ca.keyFile)
		if err != nil {
			t.Fatalf("registrytest: load server cert: %v", err)
		}
		e.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(func() {
		e.srv.Close()
		if a := e.app.Load(); a != nil {
			_ = a.Shutdown()
		}
	})
	r.waitReady(t, nil)
	return r
}

func (r *Registry) parsedConfig(t testing.TB) *configuration.Configuration {
	t.Helper()
	cfg, err := configuration.Parse(strings.NewReader(r.config(r.Host, false)))
	if err != nil {
		t.Fatalf("registrytest: parse config: %v", err)
	}
	return cfg
}

func (r *Registry) newApp(t testing.TB) (app *handlers.App) {
	t.Helper()
	cfg := r.parsedConfig(t)
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("registrytest: distribution NewApp panicked: %v", p)
		}
	}()
	return handlers.NewApp(context.Background(), cfg)
}

// GC runs distribution v3's mark-and-sweep over the registry's storage root
// while the registry keeps serving (its blob descriptor cache, if enabled,
// is not cleared: distribution#2966). For the Debian registry it runs
// `docker-registry garbage-collect` on the live config. Returns the tool's
// output (empty for the embedded registry).
func (r *Registry) GC(t testing.TB, deleteUntagged bool) string {
	t.Helper()
	return r.gc(t, deleteUntagged, false)
}

func (r *Registry) gc(t testing.TB, deleteUntagged, dryRun bool) string {
	t.Helper()
	if r.deb != nil {
		return r.deb.garbageCollect(t, r, deleteUntagged, dryRun)
	}
	ctx := context.Background()
	cfg := r.parsedConfig(t)
	driver, err := factory.Create(ctx, cfg.Storage.Type(), cfg.Storage.Parameters())
	if err != nil {
		t.Fatalf("registrytest: storage driver: %v", err)
	}
	reg, err := storage.NewRegistry(ctx, driver)
	if err != nil {
		t.Fatalf("registrytest: storage registry: %v", err)
	}
	if err := storage.MarkAndSweep(ctx, driver, reg, storage.GCOpts{DryRun: dryRun, RemoveUntagged: deleteUntagged, Quiet: true}); err != nil {
		t.Fatalf("registrytest: garbage collect: %v", err)
	}
	return ""
}

// GarbageCollect runs garbage collection the way an operator should: the
// registry is stopped (embedded: answers 503) while
// `garbage-collect [--dry-run] [--delete-untagged] CONFIG` runs, then
// started again on the same address (which also clears any blob
// descriptor cache). Returns the tool's output (Debian) or "" (embedded).
func (r *Registry) GarbageCollect(t testing.TB, deleteUntagged, dryRun bool) string {
	t.Helper()
	if r.deb != nil {
		r.deb.stop(t)
		out := r.deb.garbageCollect(t, r, deleteUntagged, dryRun)
		r.deb.start(t, r)
		return out
	}
	r.emb.maintenance.Store(true)
	out := r.gc(t, deleteUntagged, dryRun)
	r.restartEmbedded(t)
	r.emb.maintenance.Store(false)
	return out
}

// Restart stops and starts the registry on the same address and storage
// (a fresh process or App: in-memory caches are dropped).
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	if r.deb != nil {
		r.deb.stop(t)
		r.deb.start(t, r)
		return
	}
	r.restartEmbedded(t)
}

func (r *Registry) restartEmbedded(t testing.TB) {
	t.Helper()
	old := r.emb.app.Swap(r.newApp(t))
	if old != nil {
		_ = old.Shutdown()
	}
}

func probeTransport(caFile string) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(caFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}
