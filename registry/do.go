package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stratascan/strata/connerr"
)

// request is one registry call; do sends it with retries.
type request struct {
	method string
	url    string // absolute
	header http.Header
	// body is a replayable request body; stream is a one-shot or seekable one.
	body     []byte
	stream   io.Reader
	size     int64 // of stream, -1 unknown
	write    bool  // needs push/delete scope
	ok       []int // accepted statuses
	noRetry  bool
	maxRetry int // overrides Options.MaxRetries when > 0
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusRequestTimeout,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetError reports whether err looks like a broken or flaky
// connection (worth retrying) rather than a configuration problem (TLS,
// plain HTTP refused, cancelled context, connection refused).
func retryableNetError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrInsecureRefused) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, ErrTimeout) || errors.Is(err, ErrCredentialsRefused) {
		// A stalled registry stays stalled: report it now rather than
		// after every retry has waited out its timeout.
		return false
	}
	var cert *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var rec tls.RecordHeaderError
	if errors.As(err, &cert) || errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &rec) {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "server closed") || strings.Contains(s, "EOF")
}

// backoff returns the wait before retry attempt+1: base*2^attempt with
// jitter in [d/2, d], capped at MaxRetryWait.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.RetryBaseDelay << min(attempt, 20)
	if d <= 0 || d > c.opts.MaxRetryWait {
		d = c.opts.MaxRetryWait
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// retryAfter parses a Retry-After header (seconds or HTTP date).
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func httpClient(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		// Keep Accept/Range on redirects to blob storage; auth is added by
		// the transport only for the registry host.
		for k, v := range via[0].Header {
			if k == "Authorization" {
				continue
			}
			if _, ok := req.Header[k]; !ok {
				req.Header[k] = v
			}
		}
		return nil
	}}
}

// doWith sends req through rt with bounded retries on 429 (Retry-After
// honoured), 5xx and broken connections. It returns the response when its
// status is in req.ok; any other status becomes a *StatusError.
func (c *Client) doWith(ctx context.Context, rt http.RoundTripper, req request) (*http.Response, error) {
	hc := httpClient(rt)
	maxRetries := c.opts.MaxRetries
	if req.maxRetry > 0 {
		maxRetries = req.maxRetry
	}
	seeker, _ := req.stream.(io.Seeker)
	replayable := req.stream == nil || seeker != nil
	for attempt := 0; ; attempt++ {
		var body io.Reader
		switch {
		case req.body != nil:
			body = bytes.NewReader(req.body)
		case req.stream != nil:
			if attempt > 0 {
				if _, err := seeker.Seek(0, io.SeekStart); err != nil {
					return nil, fmt.Errorf("%s %s: rewind body for retry: %w", req.method, req.url, err)
				}
			}
			body = io.NopCloser(req.stream) // keep the caller's reader open
		}
		hreq, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
		if err != nil {
			return nil, fmt.Errorf("registry: build request %s %s: %w", req.method, req.url, err)
		}
		if req.body != nil {
			hreq.ContentLength = int64(len(req.body))
		} else if req.stream != nil {
			hreq.ContentLength = req.size
			if req.size == 0 {
				hreq.Body = http.NoBody
			} else if seeker != nil {
				hreq.GetBody = func() (io.ReadCloser, error) {
					if _, err := seeker.Seek(0, io.SeekStart); err != nil {
						return nil, err
					}
					return io.NopCloser(req.stream), nil
				}
			}
		}
		for k, v := range req.header {
			hreq.Header[k] = v
		}
		canRetry := !req.noRetry && replayable && attempt < maxRetries
		resp, err := hc.Do(hreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", req.method, redactString(req.url), ctx.Err())
			}
			if canRetry && retryableNetError(err) {
				wait := c.backoff(attempt)
				c.log.Warn("registry: retrying after connection error", "method", req.method, "url", redactString(req.url), "attempt", attempt+1, "wait", wait, "error", err)
				if err := sleep(ctx, wait); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("%s %s: %w", req.method, redactString(req.url), connerr.Classify(hreq.URL.Host, err))
		}
		for _, code := range req.ok {
			if resp.StatusCode == code {
				return resp, nil
			}
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		reqURL := hreq.URL
		if resp.Request != nil {
			reqURL = resp.Request.URL
		}
		serr := newStatusError(req.method, reqURL, resp.StatusCode, b)
		if canRetry && retryableStatus(resp.StatusCode) {
			wait := c.backoff(attempt)
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = min(ra, c.opts.MaxRetryWait)
			}
			c.log.Warn("registry: retrying", "method", req.method, "url", serr.URL, "status", resp.StatusCode, "attempt", attempt+1, "wait", wait)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		if attempt > 0 {
			return nil, fmt.Errorf("after %d attempts: %w", attempt+1, serr)
		}
		return nil, serr
	}
}

func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return redactURL(u)
}

// paginate GETs u and follows Link rel="next" (resolved against the page's
// URL, as distribution v3 sends relative links). When a page carries no Link
// but is exactly full (n= was given and it holds n entries) it continues
// with last=<last entry>. page parses one body and returns its entries (tag
// or repository names, used for loop control). Bounded: it stops when a
// page holds more than n entries (the registry ignores n, as distribution
// 2.8 does for tags) or nothing new, and fails when a Link repeats a URL.
func (c *Client) paginate(ctx context.Context, rt http.RoundTripper, u string, page func(body []byte) ([]string, error)) error {
	seenURL := map[string]bool{}
	seen := map[string]bool{}
	const maxPages = 100000
	for i := 0; i < maxPages; i++ {
		if seenURL[u] {
			return fmt.Errorf("registry: pagination loops back to %s; the registry sent a bad Link header", redactString(u))
		}
		seenURL[u] = true
		resp, err := c.doWith(ctx, rt, request{method: http.MethodGet, url: u, header: http.Header{"Accept": {"application/json"}}, ok: []int{http.StatusOK}})
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: read body: %w", redactString(u), err)
		}
		entries, err := page(body)
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range entries {
			if !seen[e] {
				seen[e] = true
				fresh++
			}
		}
		base := resp.Request.URL
		if next, ok := NextLink(resp.Header.Values("Link")); ok {
			nu, err := base.Parse(next)
			if err != nil {
				return fmt.Errorf("registry: bad Link %q from %s: %w", next, redactURL(base), err)
			}
			u = nu.String()
			continue
		}
		q := base.Query()
		want, _ := strconv.Atoi(q.Get("n"))
		if want <= 0 || len(entries) != want || fresh == 0 {
			return nil
		}
		q.Set("last", entries[len(entries)-1])
		nu := *base
		nu.RawQuery = q.Encode()
		u = nu.String()
	}
	return fmt.Errorf("registry: more than %d pages; giving up", maxPages)
}

// NextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), as sent by registries for tag, catalog and referrers
// pagination: `</v2/name/tags/list?last=b&n=2>; rel="next"`. The target may
// be relative; resolve it against the request URL.
func NextLink(values []string) (string, bool) {
	for _, v := range values {
		for len(v) > 0 {
			v = strings.TrimLeft(v, " \t,")
			if !strings.HasPrefix(v, "<") {
				// Not a link-value: skip to the next comma.
				i := strings.IndexByte(v, ',')
				if i < 0 {
					break
				}
				v = v[i+1:]
				continue
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			v = v[end+1:]
			// Parameters up to the next link-value (a comma outside quotes).
			params, rest := splitParams(v)
			v = rest
			for _, p := range params {
				k, val, _ := strings.Cut(p, "=")
				if !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				for _, r := range strings.Fields(val) {
					if strings.EqualFold(r, "next") {
						return target, true
					}
				}
			}
		}
	}
	return "", false
}

// splitParams splits `; a=b; rel="x y", <next>` into its parameters and
// the rest after the separating comma.
func splitParams(s string) ([]string, string) {
	var params []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"':
			inQuote = !inQuote
			cur.WriteByte(ch)
		case ch == '\\' && inQuote && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
		case ch == ';' && !inQuote:
			if p := strings.TrimSpace(cur.String()); p != "" {
				params = append(params, p)
			}
			cur.Reset()
		case ch == ',' && !inQuote:
			if p := strings.TrimSpace(cur.String()); p != "" {
				params = append(params, p)
			}
			return params, s[i+1:]
		default:
			cur.WriteByte(ch)
		}
	}
	if p := strings.TrimSpace(cur.String()); p != "" {
		params = append(params, p)
	}
	return params, ""
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("malformed JSON from registry: %v", err)
	}
	return nil
}
