package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/content"
)

// Options configure a Client. The zero value talks HTTPS to public
// registries with credentials from the Docker config.
type Options struct {
	// Insecure allows plain HTTP: https is tried first, then http (for
	// loopback test registries). Without it a registry that only speaks
	// HTTP is refused (ErrInsecureRefused).
	Insecure bool
	// SkipTLSVerify accepts any server certificate.
	SkipTLSVerify bool
	// CAFile names a PEM file of extra root certificates (a private CA).
	CAFile string
	// Username and Password are explicit credentials; when Username is empty
	// the Keychain is asked.
	Username, Password string
	// Keychain resolves credentials per registry. Default
	// authn.DefaultKeychain (~/.docker/config.json, $DOCKER_CONFIG,
	// credential helpers, podman's auth.json).
	Keychain authn.Keychain
	// Transport is the base HTTP transport (tests). Default: a clone of
	// http.DefaultTransport configured with CAFile and SkipTLSVerify.
	Transport http.RoundTripper
	// Logger receives retries and redirects at debug/warn level. nil = discard.
	Logger *slog.Logger
	// UserAgent is sent on every request (default "strata").
	UserAgent string
	// MaxRetries bounds retries of one request after 429, 5xx and broken
	// connections, and resumptions of one blob stream. 0 = default (4);
	// negative = no retries.
	MaxRetries int
	// RetryBaseDelay is the first backoff delay, doubled per attempt with
	// jitter (default 250ms).
	RetryBaseDelay time.Duration
	// MaxRetryWait caps one wait, including a server's Retry-After
	// (default 30s).
	MaxRetryWait time.Duration
	// TagPageSize, when > 0, is sent as n= on tag and catalog listings so
	// that they are paginated in pages of that size (default: the
	// registry's own page size).
	TagPageSize int

	// ConnectTimeout bounds establishing one TCP connection (default
	// DefaultConnectTimeout). Like the other timeouts it applies to the
	// default transport; the header and body timeouts also to Transport.
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds one TLS handshake (default
	// DefaultTLSHandshakeTimeout).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once a
	// request is sent (default DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
	// IdleBodyTimeout bounds the time a response body may stay blocked
	// while delivering less than 1 KiB (default DefaultIdleBodyTimeout):
	// a silent or dripping body fails instead of waiting forever.
	IdleBodyTimeout time.Duration

	// MaxRepos caps a catalog listing (default DefaultMaxRepos); MaxTags a
	// tag listing (default DefaultMaxTags). Past the cap a listing fails
	// with a *ListLimitError instead of following the registry forever.
	MaxRepos, MaxTags int

	// AllowCrossHostAuth lets credentials go to a token realm on another
	// site than the registry's (over HTTPS only). Without it they go to the
	// registry's own host, and to realms on the same site (auth.docker.io
	// for index.docker.io), and never over plain HTTP to any other host.
	AllowCrossHostAuth bool
}

// Client talks to registries. It is safe for concurrent use; it caches one
// authenticated transport per registry and scope.
type Client struct {
	opts Options
	base http.RoundTripper
	log  *slog.Logger

	mu  sync.Mutex
	rts map[string]*lazyRT
}

type lazyRT struct {
	mu sync.Mutex
	rt http.RoundTripper
}

const (
	defaultMaxRetries = 4
	defaultBaseDelay  = 250 * time.Millisecond
	defaultMaxWait    = 30 * time.Second
	maxManifestBytes  = 8 << 20
)

// New returns a Client. It fails only on unusable options (an unreadable
// CAFile); no request is made until a repository is used.
func New(opts Options) (*Client, error) {
	if opts.MaxRetries == 0 {
		opts.MaxRetries = defaultMaxRetries
	} else if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.RetryBaseDelay <= 0 {
		opts.RetryBaseDelay = defaultBaseDelay
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = defaultMaxWait
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "strata"
	}
	if opts.MaxRepos <= 0 {
		opts.MaxRepos = DefaultMaxRepos
	}
	if opts.MaxTags <= 0 {
		opts.MaxTags = DefaultMaxTags
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tos := opts.timeouts()
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = tos.dialer(t.DialContext)
		t.TLSHandshakeTimeout = tos.tls
		if opts.CAFile != "" || opts.SkipTLSVerify {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if opts.SkipTLSVerify {
				cfg.InsecureSkipVerify = true //nolint:gosec // explicit user choice
			}
			if opts.CAFile != "" {
				pool, err := x509.SystemCertPool()
				if err != nil || pool == nil {
					pool = x509.NewCertPool()
				}
				pem, err := os.ReadFile(opts.CAFile)
				if err != nil {
					return nil, fmt.Errorf("registry: read CA file: %w", err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("registry: CA file %s holds no PEM certificate; pass a PEM-encoded CA certificate", opts.CAFile)
				}
				cfg.RootCAs = pool
			}
			t.TLSClientConfig = cfg
		}
		base = t
	}
	// ggcr's user-agent wrapper on top: NewWithContext then keeps it instead
	// of adding its own, so every request says opts.UserAgent.
	base = transport.NewUserAgent(&guardTransport{inner: &stallGuard{inner: base, t: tos}, insecure: opts.Insecure}, opts.UserAgent)
	return &Client{opts: opts, base: base, log: log, rts: map[string]*lazyRT{}}, nil
}

// guardTransport refuses plain HTTP unless Insecure and rewinds bodies.
type guardTransport struct {
	inner    http.RoundTripper
	insecure bool
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s: plain HTTP is not enabled for this client", ErrInsecureRefused, req.URL.Host)
	}
	if req.GetBody != nil {
		orig := req
		req = req.Clone(req.Context())
		// The bearer transport re-sends the same request after refreshing
		// its token (insufficient scope); give every send a fresh body.
		if orig.GetBody != nil && orig.Body != nil && orig.Body != http.NoBody {
			b, err := orig.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = b
		}
	}
	return g.inner.RoundTrip(req)
}

func (c *Client) nameOpts() []name.Option {
	if c.opts.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (c *Client) authenticator(ctx context.Context, res authn.Resource) (authn.Authenticator, error) {
	if c.opts.Username != "" {
		return authn.FromConfig(authn.AuthConfig{Username: c.opts.Username, Password: c.opts.Password}), nil
	}
	a, err := authn.Resolve(ctx, c.opts.Keychain, res)
	if err != nil {
		return nil, fmt.Errorf("registry: read credentials for %s from the docker config: %w", res.RegistryStr(), err)
	}
	return a, nil
}

// transport returns the authenticated transport for reg with scopes,
// creating it (ping, token exchange) on first use. Creation is retried like
// a request; failures are not cached.
func (c *Client) transport(ctx context.Context, reg name.Registry, res authn.Resource, scopes []string) (http.RoundTripper, error) {
	key := reg.RegistryStr() + "\x00" + strings.Join(scopes, " ")
	c.mu.Lock()
	e := c.rts[key]
	if e == nil {
		e = &lazyRT{}
		c.rts[key] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt != nil {
		return e.rt, nil
	}
	auth, err := c.authenticator(ctx, res)
	if err != nil {
		return nil, err
	}
	// Every request for this registry (token requests too) passes the
	// credential guard, which knows the registry's own host.
	base := &credGuard{inner: c.base, registry: reg.RegistryStr(), allowCross: c.opts.AllowCrossHostAuth}
	for attempt := 0; ; attempt++ {
		rt, err := transport.NewWithContext(ctx, reg, auth, base, scopes)
		if err == nil {
			e.rt = rt
			return rt, nil
		}
		err = convertTransportError(err, reg)
		if ctx.Err() != nil || attempt >= c.opts.MaxRetries || !retryableSetupError(err) {
			return nil, err
		}
		wait := c.backoff(attempt)
		c.log.Warn("registry: retrying authentication", "registry", reg.RegistryStr(), "attempt", attempt+1, "wait", wait, "error", err)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// convertTransportError turns ggcr's ping/token errors into StatusErrors so
// that errors.Is(err, ErrUnauthorized) works for a refused token exchange.
func convertTransportError(err error, reg name.Registry) error {
	var te *transport.Error
	if errors.As(err, &te) {
		se := &StatusError{StatusCode: te.StatusCode, Method: http.MethodGet, URL: reg.RegistryStr()}
		if te.Request != nil {
			se.Method = te.Request.Method
			se.URL = redactURL(te.Request.URL)
		}
		for _, d := range te.Errors {
			se.Codes = append(se.Codes, string(d.Code))
			if se.Message == "" {
				se.Message = d.Message
			}
		}
		se.kind = errorKind(se.Method, te.StatusCode, se.Codes)
		return fmt.Errorf("registry %s: authenticate: %w", reg.RegistryStr(), se)
	}
	return fmt.Errorf("registry %s: %w", reg.RegistryStr(), connectError(reg.RegistryStr(), err))
}

// connectError classifies a failed ping. For a loopback or private host the
// ping tries https, then http; the http leg is refused by guardTransport
// unless Insecure, so the https leg says what happened: refused, DNS, TLS,
// or a server that answered plain HTTP (then the error also wraps
// ErrInsecureRefused).
func connectError(host string, err error) error {
	leg := err
	var ue *url.Error
	if errors.As(err, &ue) && strings.HasPrefix(ue.URL, "https:") {
		leg = ue
	}
	k, ok := connerr.KindOf(leg)
	if !ok {
		return err
	}
	ce := &connerr.Error{Server: host, Kind: k, Err: leg}
	if k == connerr.PlainHTTP {
		return fmt.Errorf("%w: %w", ErrInsecureRefused, ce)
	}
	return ce
}

func retryableSetupError(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return retryableStatus(se.StatusCode)
	}
	return retryableNetError(err)
}

// Repo returns a handle on one repository, "host[:port]/path/name" (Docker
// Hub short forms as docker expects: "alpine" is
// index.docker.io/library/alpine). It pings the registry and authenticates
// for pull; push and delete rights are requested on the first write.
func (c *Client) Repo(ctx context.Context, repo string) (*Repo, error) {
	repo = strings.TrimPrefix(repo, "docker://")
	ref, err := name.NewRepository(repo, c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: %v (want host[:port]/path/name)", content.ErrBadReference, repo, err)
	}
	r := &Repo{c: c, ref: ref}
	if _, err := r.rt(ctx, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Catalog lists every repository of registry ("host[:port]") through
// /v2/_catalog, following pagination, up to Options.MaxRepos (past it: a
// *ListLimitError). Many hosted registries disable it.
func (c *Client) Catalog(ctx context.Context, registry string) ([]string, error) {
	reg, err := name.NewRegistry(strings.TrimPrefix(registry, "docker://"), c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("%w: registry %q: %v", content.ErrBadReference, registry, err)
	}
	rt, err := c.transport(ctx, reg, reg, []string{"registry:catalog:*"})
	if err != nil {
		return nil, err
	}
	u := "https://" + reg.RegistryStr() + "/v2/_catalog"
	if c.opts.TagPageSize > 0 {
		u += fmt.Sprintf("?n=%d", c.opts.TagPageSize)
	}
	var out []string
	err = c.paginate(ctx, rt, u, func(body []byte) ([]string, error) {
		var doc struct {
			Repositories []string `json:"repositories"`
		}
		if err := jsonUnmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("registry %s: catalog: %w", reg.RegistryStr(), err)
		}
		out = append(out, doc.Repositories...)
		if len(out) > c.opts.MaxRepos {
			return nil, &ListLimitError{What: "repositories", Of: "registry " + reg.RegistryStr(), Limit: c.opts.MaxRepos}
		}
		return doc.Repositories, nil
	})
	if err != nil {
		return nil, err
	}
	return sortUnique(out), nil
}

func sortUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	out := s[:1]
	for _, x := range s[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}
