package verify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// maxBody bounds every provider answer read.
const maxBody = 256 << 10

// newClient returns the one HTTP client verifiers use: HTTPS only, proxy
// variables honoured, every wait bounded, no redirect to another host.
func newClient(opts Options) *http.Client {
	tr := &http.Transport{
		Proxy:                 proxyFunc(),
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.TestRoots},
	}
	return &http.Client{
		Transport: httpsOnly{tr},
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
				return fmt.Errorf("%w: %s -> %s", ErrRedirect, via[0].URL.Host, req.URL.Host)
			}
			return nil
		},
	}
}

// proxyFunc reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY (and their lower-case
// forms) now, for this client, as http.ProxyFromEnvironment does once per
// process.
func proxyFunc() func(*http.Request) (*url.URL, error) {
	f := httpproxy.FromEnvironment().ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

// httpsOnly refuses to send anything over plain HTTP: a secret never
// travels in clear, whatever an endpoint or a redirect says.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("verify: refusing to send a credential over %s to %s", r.URL.Scheme, r.URL.Host)
	}
	return h.rt.RoundTrip(r)
}

// answer is a provider's response, its body bounded.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends req and reads at most maxBody bytes of the answer.
func do(ctx context.Context, env Env, req *http.Request) (*answer, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", "strata-verify")
	resp, err := env.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", req.URL.Host, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// verdict maps the usual identity-endpoint answers: 2xx active, 401/403
// inactive, anything else (429, 5xx, surprises) unknown.
func (a *answer) verdict(identity func(*answer) string) Result {
	switch {
	case a.status >= 200 && a.status < 300:
		id := ""
		if identity != nil {
			id = identity(a)
		}
		return Result{Status: Active, Identity: id}
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return Result{Status: Inactive, Reason: fmt.Sprintf("HTTP %d", a.status)}
	case a.status == http.StatusTooManyRequests:
		return unknownf("rate limited (HTTP 429)")
	default:
		return unknownf("unexpected HTTP %d", a.status)
	}
}

// jsonFields returns the named top-level (or dotted) string fields of a JSON
// body, joined as "k=v" pairs.
func jsonFields(body []byte, fields ...string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	var parts []string
	for _, f := range fields {
		var v any = m
		for _, k := range strings.Split(f, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = mm[k]
		}
		switch x := v.(type) {
		case string:
			if x != "" {
				parts = append(parts, f+"="+x)
			}
		case float64:
			parts = append(parts, fmt.Sprintf("%s=%v", f, x))
		case []any:
			var s []string
			for _, e := range x {
				if str, ok := e.(string); ok {
					s = append(s, str)
				}
			}
			if len(s) > 0 {
				parts = append(parts, f+"="+strings.Join(s, ","))
			}
		}
	}
	return strings.Join(parts, " ")
}

func failed(err error) Result { return unknownf("%v", err) }
