package verify

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

var authKey = regexp.MustCompile(`"([^"\s]{1,253})"\s*:\s*\{`)

// registryVerifier checks a Docker auth ("auth": base64 of user:password)
// against the registry named next to it in the same file: the /v2/
// challenge, then Basic on /v2/ or on its token realm. Docker Hub's hosts are
// its provider's own; any other registry must be allowed by the user, and
// so must a token realm on another host.
type registryVerifier struct{}

func (registryVerifier) Provider() string { return "registry" }
func (registryVerifier) Rules() []string  { return []string{"docker-config-auth", "docker-auths-json"} }

// dockerHub maps the names Docker Hub goes by in auth files to its API host.
var dockerHub = map[string]bool{"index.docker.io": true, "docker.io": true, "registry-1.docker.io": true, "registry.hub.docker.com": true}

func (registryVerifier) host(c Candidate, env Env) (string, error) {
	i := strings.Index(c.Context, c.Secret)
	if i < 0 {
		i = len(c.Context)
	}
	ms := authKey.FindAllStringSubmatch(c.Context[:i], -1)
	if len(ms) == 0 {
		return "", fmt.Errorf("%w: no registry name next to the auth", ErrNeedsContext)
	}
	h := ms[len(ms)-1][1]
	if u, err := url.Parse(h); err == nil && u.Host != "" {
		h = u.Host
	}
	h = strings.ToLower(h)
	if dockerHub[h] {
		return "registry-1.docker.io", nil
	}
	if !env.AllowHost(h) {
		return h, fmt.Errorf("%w: %s is named in the scanned file; allow it explicitly to send it the credentials", ErrHostNotAllowed, h)
	}
	return h, nil
}

func (v registryVerifier) Target(c Candidate, env Env) (string, error) { return v.host(c, env) }

func (v registryVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	host, err := v.host(c, env)
	if err != nil {
		return failed(err)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Secret)
	user, pass, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return unknownf("the auth is not base64 of user:password (identity tokens are not checked)")
	}
	base := env.Endpoint("registry", "https://"+host)
	req, _ := http.NewRequest(http.MethodGet, base+"/v2/", nil)
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	if a.status != http.StatusUnauthorized {
		return unknownf("registry %s answered /v2/ with HTTP %d, not a challenge", host, a.status)
	}
	ch := a.header.Get("WWW-Authenticate")
	scheme, params := parseChallenge(ch)
	switch scheme {
	case "basic":
		req, _ := http.NewRequest(http.MethodGet, base+"/v2/", nil)
		req.SetBasicAuth(user, pass)
		return v.answer(ctx, env, req, user)
	case "bearer":
		realm, err := url.Parse(params["realm"])
		if err != nil || realm.Scheme != "https" {
			return unknownf("token realm %q is not an HTTPS URL", params["realm"])
		}
		if !strings.EqualFold(realm.Hostname(), hostOnly(hostOf(base))) && !(dockerHub[host] || host == "registry-1.docker.io") && !env.AllowHost(realm.Hostname()) {
			return unknownf("token realm %s is on another host than %s; allow it explicitly", realm.Host, host)
		}
		q := realm.Query()
		if s := params["service"]; s != "" {
			q.Set("service", s)
		}
		realm.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodGet, realm.String(), nil)
		req.SetBasicAuth(user, pass)
		return v.answer(ctx, env, req, user)
	default:
		return unknownf("registry %s: unsupported challenge %q", host, ch)
	}
}

func (registryVerifier) answer(ctx context.Context, env Env, req *http.Request, user string) Result {
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	return a.verdict(func(*answer) string { return "user=" + user })
}

// parseChallenge reads a WWW-Authenticate header (RFC 7235): the scheme,
// lower-cased, and its quoted parameters.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			params[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	return strings.ToLower(scheme), params
}

func hostOnly(hostport string) string {
	if u, err := url.Parse("//" + hostport); err == nil {
		return u.Hostname()
	}
	return hostport
}

func sortStrings(s []string) { sort.Strings(s) }
