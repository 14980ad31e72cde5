package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status is a verification verdict.
type Status string

// Verdicts.
const (
	// Active: the provider accepted the credential.
	Active Status = "active"
	// Inactive: the provider said the credential is revoked or invalid.
	Inactive Status = "inactive"
	// Unknown: no verdict (network error, rate limit, timeout, a provider or
	// host that is not supported or not allowed).
	Unknown Status = "unknown"
)

// Result is the verdict on one secret. It never holds the secret.
type Result struct {
	Status Status `json:"status"`
	// Provider names the verifier that checked it ("github", "aws", ...).
	Provider string `json:"provider,omitempty"`
	// Identity is what the provider said the credential belongs to
	// (account id, user name, scopes), for active results.
	Identity string `json:"identity,omitempty"`
	// Reason says why the result is inactive or unknown.
	Reason string `json:"reason,omitempty"`
	// Host is the host that was (or, in a plan, would be) contacted.
	Host string `json:"host,omitempty"`
	// CheckedAt is when the provider answered (or the check gave up).
	CheckedAt time.Time `json:"checkedAt"`
	// Cached is true when the result came from the cache.
	Cached bool `json:"cached,omitempty"`
}

// Candidate is one secret to check.
type Candidate struct {
	Rule        string
	Fingerprint string
	Secret      string
	// Related holds the other secrets found in the same file, by rule ID
	// (an AWS secret key's access key id, for example).
	Related map[string][]string
	// Context is text found next to the secret in the same file (the
	// matched line or lines), from which verifiers read hosts and ids.
	Context string
}

// Request is one planned contact: a candidate's provider and host.
type Request struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	Provider    string `json:"provider"`
	Host        string `json:"host,omitempty"`
	// Skip says why nothing would be sent (unsupported, host not allowed,
	// missing context).
	Skip string `json:"skip,omitempty"`
}

// Verifier checks one provider's credentials.
type Verifier interface {
	// Provider names the provider ("github").
	Provider() string
	// Rules lists the secret rule IDs it checks.
	Rules() []string
	// Target says which host a candidate would be sent to, or an error
	// (ErrNeedsContext, ...) saying why it cannot be checked.
	Target(c Candidate, env Env) (host string, err error)
	// Check asks the provider. It returns Unknown on any doubt.
	Check(ctx context.Context, c Candidate, env Env) Result
}

// Env is what a verifier may use to reach its provider.
type Env struct {
	// Client refuses redirects to other hosts and plain HTTP.
	Client *http.Client
	// Endpoint resolves a provider's base URL (the documented one unless a
	// test overrides it).
	Endpoint func(provider, documented string) string
	// AllowHost reports whether the user allowed sending credentials to a
	// host named inside the scanned file.
	AllowHost func(host string) bool
}

// Errors.
var (
	// ErrNotSupported: no verifier for the rule.
	ErrNotSupported = errors.New("no verifier for this kind of secret")
	// ErrNeedsContext: the verifier needs something from the same file
	// (a key id, a host, an account name) that was not found.
	ErrNeedsContext = errors.New("the file does not say where or with what this secret is used")
	// ErrHostNotAllowed: the credential would go to a host named in the
	// scanned file, which the user did not allow.
	ErrHostNotAllowed = errors.New("host not allowed for verification")
	// ErrRedirect: a provider redirected to another host.
	ErrRedirect = errors.New("redirect to another host refused")
)

// Cache stores results by fingerprint.
type Cache interface {
	Get(ctx context.Context, fingerprint string, maxAge time.Duration) (Result, bool, error)
	Put(ctx context.Context, fingerprint string, r Result) error
}

// Options configure a Checker.
type Options struct {
	// Timeout bounds each provider request (default 10 s).
	Timeout time.Duration
	// Concurrency is the number of requests in flight per provider
	// (default 2).
	Concurrency int
	// Interval is the minimum time between two requests to one provider
	// (default 200 ms).
	Interval time.Duration
	// AllowHosts lists hosts named inside scanned files (registries,
	// workspaces, databases) that may receive the credentials found next to
	// them. "*" allows any such host.
	AllowHosts []string
	// Cache, with CacheTTL, keeps results by fingerprint (never values).
	Cache    Cache
	CacheTTL time.Duration
	Logger   *slog.Logger
	// TestEndpoints replaces providers' documented base URLs (provider ->
	// URL) and TestRoots trusts a test CA. For tests only: no command-line
	// flag or configuration sets them.
	TestEndpoints map[string]string
	TestRoots     *x509.CertPool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Checker verifies candidates with the registered verifiers.
type Checker struct {
	opts   Options
	byRule map[string]Verifier
	env    Env
	mu     sync.Mutex
	gates  map[string]*gate
}

// New returns a Checker with every built-in verifier.
func New(opts Options) *Checker {
	return NewWith(opts, Builtin()...)
}

// NewWith returns a Checker with the given verifiers only.
func NewWith(opts Options, vs ...Verifier) *Checker {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Interval <= 0 {
		opts.Interval = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Checker{opts: opts, byRule: map[string]Verifier{}, gates: map[string]*gate{}}
	for _, v := range vs {
		for _, r := range v.Rules() {
			c.byRule[r] = v
		}
	}
	c.env = Env{
		Client:    newClient(opts),
		Endpoint:  c.endpoint,
		AllowHost: c.allowHost,
	}
	return c
}

// Supports reports whether a rule has a verifier.
func (c *Checker) Supports(rule string) bool { _, ok := c.byRule[rule]; return ok }

func (c *Checker) endpoint(provider, documented string) string {
	if u, ok := c.opts.TestEndpoints[provider]; ok {
		return strings.TrimRight(u, "/")
	}
	return documented
}

func (c *Checker) allowHost(host string) bool {
	host = strings.ToLower(host)
	for _, h := range c.opts.AllowHosts {
		if h == "*" || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Plan says, per distinct fingerprint, what Check would contact, without
// sending anything.
func (c *Checker) Plan(cands []Candidate) []Request {
	var out []Request
	for _, cd := range dedupe(cands) {
		rq := Request{Fingerprint: cd.Fingerprint, Rule: cd.Rule}
		v, ok := c.byRule[cd.Rule]
		if !ok {
			rq.Skip = ErrNotSupported.Error()
			out = append(out, rq)
			continue
		}
		rq.Provider = v.Provider()
		host, err := v.Target(cd, c.env)
		rq.Host = host
		if err != nil {
			rq.Skip = err.Error()
		}
		out = append(out, rq)
	}
	return out
}

// Check verifies each distinct fingerprint once and returns the results by
// fingerprint. Candidates without a verifier get Unknown.
func (c *Checker) Check(ctx context.Context, cands []Candidate) map[string]Result {
	uniq := dedupe(cands)
	out := make(map[string]Result, len(uniq))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cd := range uniq {
		wg.Add(1)
		go func(cd Candidate) {
			defer wg.Done()
			r := c.checkOne(ctx, cd)
			mu.Lock()
			out[cd.Fingerprint] = r
			mu.Unlock()
		}(cd)
	}
	wg.Wait()
	return out
}

func (c *Checker) checkOne(ctx context.Context, cd Candidate) Result {
	v, ok := c.byRule[cd.Rule]
	if !ok {
		return Result{Status: Unknown, Reason: ErrNotSupported.Error(), CheckedAt: c.opts.Now().UTC()}
	}
	host, err := v.Target(cd, c.env)
	if err != nil {
		return Result{Status: Unknown, Provider: v.Provider(), Host: host, Reason: err.Error(), CheckedAt: c.opts.Now().UTC()}
	}
	if c.opts.Cache != nil && c.opts.CacheTTL > 0 {
		if r, ok, err := c.opts.Cache.Get(ctx, cd.Fingerprint, c.opts.CacheTTL); err == nil && ok {
			r.Cached = true
			return r
		}
	}
	g := c.gate(v.Provider())
	if err := g.enter(ctx); err != nil {
		return Result{Status: Unknown, Provider: v.Provider(), Host: host, Reason: err.Error(), CheckedAt: c.opts.Now().UTC()}
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	r := v.Check(rctx, cd, c.env)
	cancel()
	g.leave()
	r.Provider, r.Host = v.Provider(), host
	if r.CheckedAt.IsZero() {
		r.CheckedAt = c.opts.Now().UTC()
	}
	c.opts.Logger.Debug("verified", "provider", r.Provider, "host", host, "fingerprint", cd.Fingerprint, "status", r.Status)
	if c.opts.Cache != nil && c.opts.CacheTTL > 0 && r.Status != Unknown {
		if err := c.opts.Cache.Put(ctx, cd.Fingerprint, r); err != nil {
			c.opts.Logger.Warn("verification cache write failed", "err", err)
		}
	}
	return r
}

func dedupe(cands []Candidate) []Candidate {
	seen := map[string]int{}
	var out []Candidate
	for _, cd := range cands {
		if i, ok := seen[cd.Fingerprint]; ok {
			// Keep the richest context for the same secret.
			out[i].Related = mergeRelated(out[i].Related, cd.Related)
			if out[i].Context == "" {
				out[i].Context = cd.Context
			}
			continue
		}
		seen[cd.Fingerprint] = len(out)
		out = append(out, cd)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func mergeRelated(a, b map[string][]string) map[string][]string {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = map[string][]string{}
	}
	for k, vs := range b {
		a[k] = append(a[k], vs...)
	}
	return a
}

// gate limits one provider's concurrency and request rate.
type gate struct {
	slots    chan struct{}
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func (c *Checker) gate(provider string) *gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gates[provider]
	if !ok {
		g = &gate{slots: make(chan struct{}, c.opts.Concurrency), interval: c.opts.Interval}
		c.gates[provider] = g
	}
	return g
}

func (g *gate) enter(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	wait := time.Until(g.next)
	now := time.Now()
	if wait < 0 {
		wait = 0
	}
	g.next = now.Add(wait + g.interval)
	g.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			<-g.slots
			return ctx.Err()
		}
	}
	return nil
}

func (g *gate) leave() { <-g.slots }

// hostOf returns the host of a URL, or "" when it does not parse.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func unknownf(format string, args ...any) Result {
	return Result{Status: Unknown, Reason: fmt.Sprintf(format, args...)}
}
