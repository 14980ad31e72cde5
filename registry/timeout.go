package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default timeouts (Options): how long one network wait may last before the
// registry counts as stalled.
const (
	DefaultConnectTimeout        = 30 * time.Second
	DefaultTLSHandshakeTimeout   = 30 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleBodyTimeout       = 60 * time.Second
	// minBodyProgress is what a body must deliver per IdleBodyTimeout to
	// count as flowing: a server dripping one byte a second is stalled.
	minBodyProgress = 1024
)

// Stall phases named by TimeoutError.
const (
	PhaseConnect = "connect"
	PhaseTLS     = "TLS handshake"
	PhaseHeaders = "response headers"
	PhaseBody    = "response body"
)

// ErrTimeout is wrapped by every TimeoutError.
var ErrTimeout = errors.New("registry stalled")

// TimeoutError reports a network wait that exceeded its timeout: which host
// stalled, in which phase, after how long.
type TimeoutError struct {
	Host  string // host[:port] the request went to (the registry, or its token realm)
	Phase string // PhaseConnect, PhaseTLS, PhaseHeaders or PhaseBody
	After time.Duration
	// Drip: the body was not silent but sent less than 1 KiB in After.
	Drip bool
}

func (e *TimeoutError) Error() string {
	what := e.Phase
	switch e.Phase {
	case PhaseConnect:
		what = "connecting took longer than " + e.After.String()
	case PhaseTLS:
		what = "the TLS handshake took longer than " + e.After.String()
	case PhaseHeaders:
		what = "no response headers within " + e.After.String() + " of the request"
	case PhaseBody:
		what = "the response body sent nothing for " + e.After.String()
		if e.Drip {
			what = "the response body sent less than 1 KiB in " + e.After.String()
		}
	}
	return fmt.Sprintf("%v: %s: %s; the registry is down, overloaded or unreachable: retry later, or raise the %s timeout if it is just slow",
		ErrTimeout, e.Host, what, e.Phase)
}

// Unwrap lets errors.Is(err, ErrTimeout) match.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// Timeout reports true, as net.Error timeouts do.
func (e *TimeoutError) Timeout() bool { return true }

// timeouts holds the effective timeouts of a Client.
type timeouts struct {
	connect, tls, header, body time.Duration
}

func (o Options) timeouts() timeouts {
	pick := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	return timeouts{
		connect: pick(o.ConnectTimeout, DefaultConnectTimeout),
		tls:     pick(o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		header:  pick(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		body:    pick(o.IdleBodyTimeout, DefaultIdleBodyTimeout),
	}
}

// dialer wraps a transport's DialContext (nil: a plain net.Dialer) so that
// connecting is bounded by the connect timeout and reported as a
// TimeoutError.
func (t timeouts) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, t.connect)
		defer cancel()
		c, err := dial(dctx, network, addr)
		// The dialer's own deadline can fire a hair before the context
		// says so: a timeout error counts as well.
		var ne net.Error
		if err != nil && ctx.Err() == nil && (dctx.Err() != nil || errors.As(err, &ne) && ne.Timeout()) {
			return nil, &TimeoutError{Host: addr, Phase: PhaseConnect, After: t.connect}
		}
		return c, err
	}
}

// stallGuard bounds the waits of every request: for response headers, and
// between the bytes of the response body. It sits under the authentication
// transports, so token requests are bounded too.
type stallGuard struct {
	inner http.RoundTripper
	t     timeouts
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	host := req.URL.Host
	// The header wait starts once the request is sent, body included, as
	// with http.Transport.ResponseHeaderTimeout: an upload may take long.
	timer := time.AfterFunc(time.Duration(math.MaxInt64), func() {
		cancel(&TimeoutError{Host: host, Phase: PhaseHeaders, After: g.t.header})
	})
	start := func() { timer.Reset(g.t.header) }
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &sentBody{rc: req.Body, done: start}
	} else {
		start()
	}
	resp, err := g.inner.RoundTrip(out)
	timer.Stop()
	if err != nil {
		var te *TimeoutError
		if cause := context.Cause(ctx); errors.As(cause, &te) {
			err = te
		} else if strings.Contains(err.Error(), "TLS handshake timeout") {
			// net/http's own TLSHandshakeTimeout (its error type is unexported).
			err = &TimeoutError{Host: host, Phase: PhaseTLS, After: g.t.tls}
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, ctx: ctx, cancel: cancel, host: host, idle: g.t.body, budget: g.t.body}
	if req.URL.Path == "/v2/" {
		// The version check's body means nothing, but the ping of the
		// authentication library drains it to the end: an endless one
		// would keep it reading forever.
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxPingBody}
	}
	return resp, nil
}

// maxPingBody is how much of a /v2/ response body is read.
const maxPingBody = 64 << 10

// cappedBody ends a body after left bytes.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// idleBody fails a body read that stays blocked, without delivering
// minBodyProgress bytes, for longer than idle in total. Time the caller
// spends between reads does not count. Like any reader it is not for
// concurrent use.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context //nolint:containedctx // the request's own context, cancelled to unblock a stalled read
	cancel context.CancelCauseFunc
	host   string
	idle   time.Duration
	budget time.Duration // blocked time left before the body counts as stalled
	since  int           // bytes since the budget was last refilled
}

func (b *idleBody) Read(p []byte) (int, error) {
	stall := &TimeoutError{Host: b.host, Phase: PhaseBody, After: b.idle, Drip: b.since > 0}
	fired := make(chan struct{})
	timer := time.AfterFunc(b.budget, func() {
		b.cancel(stall)
		close(fired)
	})
	start := time.Now()
	n, err := b.rc.Read(p)
	if !timer.Stop() {
		<-fired
		return n, stall
	}
	b.since += n
	switch {
	case b.since >= minBodyProgress || err != nil:
		b.since, b.budget = 0, b.idle
	default:
		if b.budget -= time.Since(start); b.budget <= 0 {
			stall.Drip = true
			b.cancel(stall)
			return n, stall
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// sentBody calls done once the transport has read the whole request body
// (or closed it).
type sentBody struct {
	rc   io.ReadCloser
	done func()
	once sync.Once
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *sentBody) Close() error {
	b.once.Do(b.done)
	return b.rc.Close()
}
