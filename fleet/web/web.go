package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
)

// Queue is what the handler needs from the fleet's job engine;
// *fleet.Service satisfies it.
type Queue interface {
	// EnqueueRef schedules a scan of a reference ("host/repo:tag" or
	// "host/repo@digest").
	EnqueueRef(ctx context.Context, ref string) error
	// EnqueuePush schedules the scan of a pushed manifest.
	EnqueuePush(ctx context.Context, registry, repo, tag string, manifest image.Digest) error
	// QueueStats counts jobs by state.
	QueueStats(ctx context.Context) (map[string]int, error)
}

// Config is what NewHandler serves.
type Config struct {
	// Store is the findings store (read side, tokens).
	Store *store.Store
	// Queue takes the work of the webhook and of POST /api/v1/scan.
	Queue Queue
	// WebhookSecret is what the registry sends as "Authorization: Bearer
	// SECRET" on POST /hook. Empty: every webhook call answers 401.
	WebhookSecret string
	// WebhookHeader is the header carrying the webhook secret: ""
	// (Authorization, as "Bearer SECRET") or another name whose value is
	// the secret itself ("X-Strata-Webhook-Secret").
	WebhookHeader string
	// SecureCookie marks the session cookie Secure even when the request
	// came over plain HTTP: set it behind a proxy that terminates TLS.
	// Without it the cookie is Secure when the request came over TLS.
	SecureCookie bool
	// Logger receives request errors (never a token or a secret value).
	Logger *slog.Logger
	// Registerer receives the handler's collectors; when it is also a
	// prometheus.Gatherer (a *prometheus.Registry), /metrics serves it.
	// Nil: a new registry of the handler's own, with the Go runtime and
	// process collectors (memory, CPU, file descriptors).
	Registerer prometheus.Registerer
	// Metrics are the in-process collectors shared with the workers (see
	// NewMetrics); nil: NewHandler registers a set on Registerer.
	Metrics *Metrics
	// SessionKey signs session cookies; set the same key on every serve
	// process behind one address. Nil: 32 random bytes (sessions end when
	// the process does).
	SessionKey []byte
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrConfig is returned by NewHandler for a configuration it cannot serve.
var ErrConfig = errors.New("web: invalid configuration")

// handler is the state shared by every route.
type handler struct {
	store      *store.Store
	queue      Queue
	hookSecret string
	hookHeader string
	secure     bool
	log        *slog.Logger
	metrics    *Metrics
	gatherer   prometheus.Gatherer
	sessionKey []byte
	sessionTTL time.Duration
	now        func() time.Time
	pages      *pages
}

// NewHandler returns the fleet's HTTP handler: webhook, API, dashboard,
// health and metrics (see the package documentation for the routes).
func NewHandler(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h.routes(), nil
}

// NewWorkerHandler returns the handler of a worker-only process (strata
// worker): /healthz, /readyz and /metrics, with the same access rule as
// NewHandler's (/metrics needs the API token; health checks are open). Its
// /metrics carries this process's own measurements (Config.Metrics: scan
// latencies, layers and bytes it read, memory) beside the fleet-wide
// values, so every worker can be scraped on its own.
func NewWorkerHandler(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", h.api(h.metricsHandler().ServeHTTP))
	mux.Handle("/", h.api(func(w http.ResponseWriter, r *http.Request) {
		h.jsonError(w, http.StatusNotFound, "a worker serves only /healthz, /readyz and /metrics, not %s", r.URL.Path)
	}))
	return securityHeaders(mux), nil
}

func (h *handler) metricsHandler() http.Handler {
	return promhttp.HandlerFor(h.gatherer, promhttp.HandlerOpts{ErrorLog: slogPromLogger{h.log}})
}

func newHandler(cfg Config) (*handler, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	if cfg.Queue == nil {
		return nil, fmt.Errorf("%w: no queue", ErrConfig)
	}
	h := &handler{store: cfg.Store, queue: cfg.Queue, hookSecret: cfg.WebhookSecret, log: cfg.Logger,
		hookHeader: http.CanonicalHeaderKey(cfg.WebhookHeader), secure: cfg.SecureCookie,
		metrics: cfg.Metrics, sessionKey: cfg.SessionKey, sessionTTL: cfg.SessionTTL, now: cfg.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.sessionTTL <= 0 {
		h.sessionTTL = 12 * time.Hour
	}
	if len(h.sessionKey) == 0 {
		h.sessionKey = make([]byte, 32)
		if _, err := rand.Read(h.sessionKey); err != nil {
			return nil, fmt.Errorf("web: session key: %w", err)
		}
	} else if len(h.sessionKey) < 16 {
		return nil, fmt.Errorf("%w: session key of %d bytes: use at least 16 random bytes", ErrConfig, len(h.sessionKey))
	}
	if h.hookSecret == "" {
		h.log.Warn("no webhook secret configured: POST /hook answers 401 to every registry")
	}
	reg := cfg.Registerer
	if reg == nil {
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = own
	}
	h.gatherer = prometheus.DefaultGatherer
	if g, ok := reg.(prometheus.Gatherer); ok {
		h.gatherer = g
	}
	if h.metrics == nil {
		m, err := NewMetrics(reg)
		if err != nil {
			return nil, err
		}
		h.metrics = m
	}
	if err := reg.Register(&fleetCollector{h: h}); err != nil {
		return nil, fmt.Errorf("web: register the fleet collector: %w", err)
	}
	p, err := newPages()
	if err != nil {
		return nil, err
	}
	h.pages = p
	return h, nil
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	// Open routes.
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.HandleFunc("POST /hook", h.hook)
	mux.HandleFunc("GET /login", h.loginForm)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	// API: JSON answers, 401 as JSON.
	mux.Handle("POST /api/v1/scan", h.api(h.apiScan))
	mux.Handle("GET /api/v1/findings", h.api(h.apiFindings))
	mux.Handle("GET /api/v1/fingerprints/{fp}", h.api(h.apiFingerprint))
	mux.Handle("GET /api/v1/images/{registry}/{rest...}", h.api(h.apiImage))
	mux.Handle("GET /api/v1/status", h.api(h.apiStatus))
	mux.Handle("/api/", h.api(func(w http.ResponseWriter, r *http.Request) {
		h.jsonError(w, http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
	}))
	// Pages: 401 with the login form as the body.
	mux.Handle("GET /metrics", h.page(h.metricsHandler().ServeHTTP))
	mux.Handle("GET /{$}", h.page(h.overviewPage))
	mux.Handle("GET /findings", h.page(h.findingsPage))
	mux.Handle("GET /fingerprints/{fp}", h.page(h.fingerprintPage))
	mux.Handle("GET /images/{registry}/{rest...}", h.page(h.imagePage))
	mux.Handle("/", h.page(http.NotFound))
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets what every answer carries: no framing, no MIME
// sniffing, no referrer, and no caching of pages that list findings.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// slogPromLogger adapts the logger to promhttp's error log.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) { l.log.Error("metrics", "error", fmt.Sprint(v...)) }

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}
