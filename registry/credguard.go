package registry

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// ErrCredentialsRefused: strata refused to send the user's credentials to
// a host other than the registry's own (a token realm elsewhere).
var ErrCredentialsRefused = errors.New("credentials withheld")

// credGuard sits under the authentication transports of one registry, so
// it sees every request made for it, token requests included. A request
// that carries credentials (an Authorization header, or the OAuth form POST
// that holds a refresh token) to another host than the registry's is
// refused when it would go over plain HTTP, or, unless allowCross, to a
// host on another site. A registry answering a 401 can name any realm; a
// hostile or spoofed one (plain HTTP can be spoofed) would otherwise
// collect the password.
type credGuard struct {
	inner      http.RoundTripper
	registry   string // host[:port] as requested
	allowCross bool
}

func (g *credGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.inner.RoundTrip(req)
}

func (g *credGuard) check(req *http.Request) error {
	host := req.URL.Host
	if strings.EqualFold(host, g.registry) || !carriesCredentials(req) {
		return nil
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("%w: registry %s sends its token requests to %s over plain HTTP; strata does not send credentials in clear to a host other than the registry's own", ErrCredentialsRefused, g.registry, req.URL.Redacted())
	}
	if !g.allowCross && !sameSite(hostOnly(g.registry), hostOnly(host)) {
		return fmt.Errorf("%w: registry %s sends its token requests to %s, another site; strata does not send your credentials there unless you allow credentials for other token hosts", ErrCredentialsRefused, g.registry, host)
	}
	return nil
}

// carriesCredentials reports whether a request holds the user's secret:
// Basic or Bearer authorization, or a form POST (the OAuth2 token request
// that carries a password or refresh token).
func carriesCredentials(req *http.Request) bool {
	if req.Header.Get("Authorization") != "" {
		return true
	}
	return req.Method == http.MethodPost && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// sameSite reports whether two host names belong to one site: equal, both
// loopback, or sharing their registrable domain (public suffix + 1 label,
// as auth.docker.io and index.docker.io do). IP addresses match only
// themselves (or loopback, loopback).
func sameSite(a, b string) bool {
	if a == b {
		return true
	}
	if isLoopback(a) && isLoopback(b) {
		return true
	}
	if net.ParseIP(a) != nil || net.ParseIP(b) != nil {
		return false
	}
	ea, err1 := publicsuffix.EffectiveTLDPlusOne(a)
	eb, err2 := publicsuffix.EffectiveTLDPlusOne(b)
	return err1 == nil && err2 == nil && ea == eb
}

func isLoopback(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
