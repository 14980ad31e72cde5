package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Builtin returns every built-in verifier.
func Builtin() []Verifier {
	vs := []Verifier{awsVerifier{}, googleVerifier{}, azureStorageVerifier{}, slackWebhookVerifier{},
		twilioVerifier{}, databricksVerifier{}, registryVerifier{}, pypiVerifier{}}
	for _, h := range httpProviders {
		vs = append(vs, h)
	}
	return vs
}

// httpVerifier is a provider whose check is one request to a fixed,
// documented endpoint carrying the secret in a header: the endpoint is data.
type httpVerifier struct {
	provider string
	rules    []string
	// base is the documented scheme and host; path the identity endpoint.
	base, method, path string
	// pathFor, when set, picks the identity endpoint by the token's kind.
	pathFor func(secret string) string
	// auth puts the secret on the request.
	auth func(r *http.Request, secret string)
	// identity picks what the provider says the credential belongs to.
	identity func(a *answer) string
	// classify overrides the usual status mapping (Slack answers 200 with
	// "ok": false for a dead token).
	classify func(a *answer) Result
}

func bearer(r *http.Request, s string) { r.Header.Set("Authorization", "Bearer "+s) }

func fields(fs ...string) func(*answer) string {
	return func(a *answer) string { return jsonFields(a.body, fs...) }
}

var httpProviders = []httpVerifier{
	{provider: "github", rules: []string{"github-pat", "github-oauth", "github-fine-grained-pat", "github-user-to-server-token"},
		base: "https://api.github.com", method: http.MethodGet, path: "/user", auth: bearer,
		identity: func(a *answer) string {
			id := jsonFields(a.body, "login")
			if s := a.header.Get("X-OAuth-Scopes"); s != "" {
				id += " scopes=" + strings.ReplaceAll(s, " ", "")
			}
			return id
		}},
	// App installation tokens (ghs_) may not call /user; user-to-server
	// tokens (ghu_), which share the rule, act as their user.
	{provider: "github", rules: []string{"github-app-token"},
		base: "https://api.github.com", method: http.MethodGet, path: "/installation/repositories", auth: bearer,
		pathFor: func(s string) string {
			if strings.HasPrefix(s, "ghu_") {
				return "/user"
			}
			return "/installation/repositories"
		},
		identity: fields("total_count", "login")},
	{provider: "gitlab", rules: []string{"gitlab-pat", "gitlab-pat-routable"},
		base: "https://gitlab.com", method: http.MethodGet, path: "/api/v4/personal_access_tokens/self",
		auth:     func(r *http.Request, s string) { r.Header.Set("PRIVATE-TOKEN", s) },
		identity: fields("name", "scopes", "expires_at")},
	{provider: "slack", rules: []string{"slack-bot-token", "slack-user-token", "slack-legacy-bot-token", "slack-legacy-token", "slack-legacy-workspace-token"},
		base: "https://slack.com", method: http.MethodPost, path: "/api/auth.test", auth: bearer,
		classify: classifySlack},
	{provider: "stripe", rules: []string{"stripe-access-token"},
		base: "https://api.stripe.com", method: http.MethodGet, path: "/v1/account",
		auth: func(r *http.Request, s string) { r.SetBasicAuth(s, "") }, identity: fields("id", "email")},
	{provider: "openai", rules: []string{"openai-api-key", "openai-api-key-marked"},
		base: "https://api.openai.com", method: http.MethodGet, path: "/v1/models", auth: bearer,
		identity: func(a *answer) string {
			if o := a.header.Get("Openai-Organization"); o != "" {
				return "organization=" + o
			}
			return "models listed"
		}},
	{provider: "anthropic", rules: []string{"anthropic-api-key"},
		base: "https://api.anthropic.com", method: http.MethodGet, path: "/v1/models",
		auth: func(r *http.Request, s string) {
			r.Header.Set("x-api-key", s)
			r.Header.Set("anthropic-version", "2023-06-01")
		}, identity: func(*answer) string { return "models listed" }},
	{provider: "npm", rules: []string{"npm-access-token"},
		base: "https://registry.npmjs.org", method: http.MethodGet, path: "/-/whoami", auth: bearer,
		identity: fields("username")},
	{provider: "sendgrid", rules: []string{"sendgrid-api-token"},
		base: "https://api.sendgrid.com", method: http.MethodGet, path: "/v3/scopes", auth: bearer,
		identity: fields("scopes")},
	{provider: "huggingface", rules: []string{"huggingface-access-token", "huggingface-organization-api-token"},
		base: "https://huggingface.co", method: http.MethodGet, path: "/api/whoami-v2", auth: bearer,
		identity: fields("name", "type", "auth.accessToken.role")},
	{provider: "digitalocean", rules: []string{"digitalocean-pat", "digitalocean-access-token"},
		base: "https://api.digitalocean.com", method: http.MethodGet, path: "/v2/account", auth: bearer,
		identity: fields("account.uuid", "account.status")},
}

func (h httpVerifier) Provider() string { return h.provider }
func (h httpVerifier) Rules() []string  { return h.rules }

func (h httpVerifier) Target(c Candidate, env Env) (string, error) {
	return hostOf(env.Endpoint(h.provider, h.base)), nil
}

func (h httpVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	path := h.path
	if h.pathFor != nil {
		path = h.pathFor(c.Secret)
	}
	req, err := http.NewRequest(h.method, env.Endpoint(h.provider, h.base)+path, nil)
	if err != nil {
		return failed(err)
	}
	h.auth(req, c.Secret)
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	if h.classify != nil {
		return h.classify(a)
	}
	return a.verdict(h.identity)
}

// classifySlack reads auth.test's {"ok": ...} answer, which comes with
// HTTP 200 for dead tokens too.
func classifySlack(a *answer) Result {
	if a.status != http.StatusOK {
		return a.verdict(nil)
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		User  string `json:"user"`
		Team  string `json:"team"`
	}
	if json.Unmarshal(a.body, &r) != nil {
		return unknownf("unreadable auth.test answer")
	}
	switch {
	case r.OK:
		return Result{Status: Active, Identity: fmt.Sprintf("team=%s user=%s", r.Team, r.User)}
	case r.Error == "invalid_auth" || r.Error == "token_revoked" || r.Error == "account_inactive" || r.Error == "not_authed" || r.Error == "token_expired":
		return Result{Status: Inactive, Reason: r.Error}
	default:
		return unknownf("auth.test: %s", r.Error)
	}
}

// slackWebhookVerifier posts an empty JSON object to the webhook: Slack
// refuses it without posting anything, with an error that tells a live
// webhook (400 invalid_payload / no_text) from a dead one (403/404).
type slackWebhookVerifier struct{}

func (slackWebhookVerifier) Provider() string { return "slack-webhook" }
func (slackWebhookVerifier) Rules() []string  { return []string{"slack-webhook-url"} }

func (slackWebhookVerifier) url(c Candidate, env Env) (string, error) {
	u, err := url.Parse(strings.TrimSpace(c.Secret))
	if err != nil || u.Host != "hooks.slack.com" || !strings.HasPrefix(u.Path, "/services/") {
		return "", fmt.Errorf("%w: not a hooks.slack.com/services URL", ErrNeedsContext)
	}
	return env.Endpoint("slack-webhook", "https://hooks.slack.com") + u.Path, nil
}

func (v slackWebhookVerifier) Target(c Candidate, env Env) (string, error) {
	u, err := v.url(c, env)
	return hostOf(u), err
}

func (v slackWebhookVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	u, err := v.url(c, env)
	if err != nil {
		return failed(err)
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/json")
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	body := strings.TrimSpace(string(a.body))
	switch {
	case a.status == http.StatusBadRequest && (body == "invalid_payload" || body == "no_text"):
		return Result{Status: Active, Identity: "webhook accepts posts"}
	case a.status == http.StatusForbidden || a.status == http.StatusNotFound || a.status == http.StatusGone:
		return Result{Status: Inactive, Reason: body}
	default:
		return a.verdict(nil)
	}
}

// pypiVerifier: PyPI has no read-only identity endpoint (the only check is an
// upload), so tokens are always unknown and nothing is sent.
type pypiVerifier struct{}

func (pypiVerifier) Provider() string { return "pypi" }
func (pypiVerifier) Rules() []string  { return []string{"pypi-upload-token", "pypi-test-upload-token"} }
func (pypiVerifier) Target(Candidate, Env) (string, error) {
	return "", fmt.Errorf("%w: PyPI offers no read-only check (only an upload would tell)", ErrNotSupported)
}
func (v pypiVerifier) Check(_ context.Context, c Candidate, env Env) Result {
	_, err := v.Target(c, env)
	return failed(err)
}

var (
	twilioSID      = regexp.MustCompile(`\bAC[0-9a-f]{32}\b`)
	databricksHost = regexp.MustCompile(`\b((?:[a-z0-9-]+\.)+(?:cloud\.databricks\.com|azuredatabricks\.net|gcp\.databricks\.com))\b`)
)

// twilioVerifier fetches the account the auth token belongs to; the account
// SID comes from the same file.
type twilioVerifier struct{}

func (twilioVerifier) Provider() string { return "twilio" }
func (twilioVerifier) Rules() []string  { return []string{"twilio-auth-token"} }
func (twilioVerifier) Target(c Candidate, env Env) (string, error) {
	if twilioSID.FindString(c.Context) == "" {
		return "", fmt.Errorf("%w: no account SID (AC...) next to the token", ErrNeedsContext)
	}
	return hostOf(env.Endpoint("twilio", "https://api.twilio.com")), nil
}
func (v twilioVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	if _, err := v.Target(c, env); err != nil {
		return failed(err)
	}
	sid := twilioSID.FindString(c.Context)
	req, err := http.NewRequest(http.MethodGet, env.Endpoint("twilio", "https://api.twilio.com")+"/2010-04-01/Accounts/"+sid+".json", nil)
	if err != nil {
		return failed(err)
	}
	req.SetBasicAuth(sid, c.Secret)
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	return a.verdict(fields("sid", "status"))
}

// databricksVerifier asks the workspace named in the same file who the token
// is; only Databricks' own domains are contacted.
type databricksVerifier struct{}

func (databricksVerifier) Provider() string { return "databricks" }
func (databricksVerifier) Rules() []string  { return []string{"databricks-api-token"} }
func (databricksVerifier) base(c Candidate, env Env) (string, error) {
	h := databricksHost.FindString(strings.ToLower(c.Context))
	if h == "" {
		return "", fmt.Errorf("%w: no Databricks workspace host next to the token", ErrNeedsContext)
	}
	return env.Endpoint("databricks", "https://"+h), nil
}
func (v databricksVerifier) Target(c Candidate, env Env) (string, error) {
	b, err := v.base(c, env)
	return hostOf(b), err
}
func (v databricksVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	b, err := v.base(c, env)
	if err != nil {
		return failed(err)
	}
	req, err := http.NewRequest(http.MethodGet, b+"/api/2.0/preview/scim/v2/Me", nil)
	if err != nil {
		return failed(err)
	}
	bearer(req, c.Secret)
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	return a.verdict(fields("userName"))
}
