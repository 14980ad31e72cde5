package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/fleet/web"
)

type route struct {
	method, path, body string
	page               bool // HTML: 401 answers the login form
	authed             int  // the status with the token
}

func (f *fixture) routes() []route {
	fp := fingerprint(secretA)
	return []route{
		{"GET", "/", "", true, 200},
		{"GET", "/fingerprints/" + fp, "", true, 200},
		{"GET", "/findings?repository=team/app&status=open", "", true, 200},
		{"GET", f.imageURL("/images", "app1", "team/app"), "", true, 200},
		{"GET", "/images/" + testRegistry + "/team/app@" + string(digestOf("no such")), "", true, 404},
		{"GET", "/metrics", "", true, 200},
		{"GET", "/nowhere", "", true, 404},
		{"GET", "/api/v1/findings", "", false, 200},
		{"GET", "/api/v1/findings?status=open&severity=high", "", false, 200},
		{"GET", "/api/v1/fingerprints/" + fp, "", false, 200},
		{"GET", f.imageURL("/api/v1/images", "app1", "team/app"), "", false, 200},
		{"GET", "/api/v1/status", "", false, 200},
		{"POST", "/api/v1/scan", `{"ref":"registry.test:5000/team/app:3.0"}`, false, 202},
		{"GET", "/api/v1/nowhere", "", false, 404},
	}
}

// TestUnauthorized: every page and API route answers 401 without the
// token, with a wrong one, and with a forged, foreign or expired session
// cookie; pages answer with the login form, the API with a JSON error;
// with the token (header or cookie) they answer.
func TestUnauthorized(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	code, good := f.login(t, f.token)
	if code != http.StatusSeeOther || good == nil {
		t.Fatalf("login: %d, cookie %v", code, good)
	}
	if !good.HttpOnly || good.SameSite != http.SameSiteStrictMode || strings.Contains(good.Value, f.token) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, no token", good)
	}
	other := newFixture(t) // another handler: another session key
	_, foreign := other.login(t, other.token)
	expired := newFixture(t)
	_, stale := expired.login(t, expired.token)
	expired.clock.Add(13 * time.Hour)

	creds := []struct {
		name   string
		f      *fixture
		header string
		cookie string
	}{
		{"none", f, "", ""},
		{"wrong token", f, "Bearer strata_not-the-token", ""},
		{"basic auth", f, "Basic " + f.token, ""},
		{"empty bearer", f, "Bearer ", ""},
		{"forged cookie", f, "", "4102444800.AAAA"},
		{"other handler's cookie", f, "", foreign.Value},
		{"expired cookie", expired, "", stale.Value},
		{"token as cookie", f, "", f.token},
	}
	for _, c := range creds {
		for _, r := range c.f.routes() {
			t.Run(c.name+" "+r.method+" "+r.path, func(t *testing.T) {
				hdr := map[string]string{}
				if c.cookie != "" {
					hdr["Cookie"] = "strata_session=" + c.cookie
				}
				code, h, body := c.f.do(t, r.method, r.path, c.header, strings.NewReader(r.body), hdr)
				if code != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %.200s", code, body)
				}
				if r.page && !strings.Contains(body, `<form class="login" method="post" action="/login">`) {
					t.Errorf("401 page without the login form: %.300s", body)
				}
				if !r.page && (!strings.HasPrefix(h.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`)) {
					t.Errorf("401 API answer not a JSON error: %s %.200s", h.Get("Content-Type"), body)
				}
			})
		}
	}
	for _, auth := range []struct{ name, header, cookie string }{{"bearer", "Bearer " + f.token, ""}, {"cookie", "", good.Value}} {
		for _, r := range f.routes() {
			t.Run("with "+auth.name+" "+r.method+" "+r.path, func(t *testing.T) {
				hdr := map[string]string{}
				if auth.cookie != "" {
					hdr["Cookie"] = "strata_session=" + auth.cookie
				}
				code, _, body := f.do(t, r.method, r.path, auth.header, strings.NewReader(r.body), hdr)
				if code != r.authed {
					t.Errorf("status %d, want %d: %.300s", code, r.authed, body)
				}
				assertNoSecrets(t, r.path, body)
				if r.page && r.authed == 404 && r.path != "/nowhere" && !strings.Contains(body, `<p class="error" role="alert">`) {
					t.Errorf("a page's 404 is not an error page: %.300s", body)
				}
			})
		}
	}
}

// TestOpenRoutes: health, readiness and the login form need no token.
func TestOpenRoutes(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/healthz", "/readyz", "/login"} {
		if code, _, body := f.do(t, "GET", p, "", nil, nil); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	// A newer strata migrated the store: this one is not ready.
	if _, err := f.store.SQLDB().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, store.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if code, _, body := f.do(t, "GET", "/readyz", "", nil, nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "schema version") {
		t.Errorf("/readyz with a newer schema: %d %s, want 503", code, body)
	}
	f.store.Close()
	if code, _, _ := f.do(t, "GET", "/readyz", "", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the store closed: %d, want 503", code)
	}
	if code, _, _ := f.do(t, "GET", "/healthz", "", nil, nil); code != http.StatusOK {
		t.Errorf("/healthz with the store closed: %d, want 200 (the process is up)", code)
	}
}

// TestLogin: a wrong token is refused with the form again; the right one
// redirects to the page asked for (local paths only); cross-site posts
// are refused; logout clears the cookie.
func TestLogin(t *testing.T) {
	f := newFixture(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	cases := []struct {
		name, body string
		hdr        map[string]string
		code       int
		location   string
	}{
		{"wrong token", "token=nope", form, 401, ""},
		{"empty token", "token=", form, 401, ""},
		{"right token", "token=" + f.token + "&next=/fingerprints/x", form, 303, "/fingerprints/x"},
		{"open redirect", "token=" + f.token + "&next=//evil.example/", form, 303, "/"},
		{"scheme redirect", "token=" + f.token + "&next=https://evil.example/", form, 303, "/"},
		{"cross-site post", "token=" + f.token, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"foreign origin", "token=" + f.token, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Origin": "https://evil.example"}, 403, ""},
		{"too big", "token=" + strings.Repeat("x", 64<<10), form, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := f.do(t, "POST", "/login", "", strings.NewReader(c.body), c.hdr)
			if code != c.code {
				t.Fatalf("status %d, want %d: %.300s", code, c.code, body)
			}
			if c.location != "" && h.Get("Location") != c.location {
				t.Errorf("redirect to %q, want %q", h.Get("Location"), c.location)
			}
			if code == 401 && !strings.Contains(body, "not the token") {
				t.Errorf("no error message on the form: %.300s", body)
			}
		})
	}
	// A scan enqueued from a browser with the cookie: same origin passes,
	// another site's page is refused before the queue sees it.
	_, c := f.login(t, f.token)
	for _, site := range []struct {
		fetchSite string
		code      int
	}{{"same-origin", 202}, {"cross-site", 403}} {
		code, _, body := f.do(t, "POST", "/api/v1/scan", "", strings.NewReader(`{"ref":"registry.test:5000/a/b:1"}`),
			map[string]string{"Cookie": "strata_session=" + c.Value, "Sec-Fetch-Site": site.fetchSite, "Content-Type": "application/json"})
		if code != site.code {
			t.Errorf("scan from %s: %d, want %d: %s", site.fetchSite, code, site.code, body)
		}
	}
	if n := len(f.queue.Calls()); n != 1 {
		t.Errorf("%d scans enqueued, want 1 (the same-origin one)", n)
	}
	code, h, _ := f.do(t, "POST", "/logout", "", nil, map[string]string{"Cookie": "strata_session=" + c.Value})
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d, Set-Cookie %q", code, h.Get("Set-Cookie"))
	}
}

// TestSecureCookie: the session cookie is Secure over TLS, and over plain
// HTTP when SecureCookie says a proxy terminates TLS; else not.
func TestSecureCookie(t *testing.T) {
	plain := newFixture(t)
	if _, c := plain.login(t, plain.token); c == nil || c.Secure {
		t.Errorf("plain HTTP: cookie %+v, want one without Secure", c)
	}
	proxied := newFixtureWith(t, dialects[0].dsn(t), nil, func(c *web.Config) { c.SecureCookie = true })
	if _, c := proxied.login(t, proxied.token); c == nil || !c.Secure {
		t.Errorf("SecureCookie: cookie %+v, want Secure", c)
	}
	tlsF := newFixture(t)
	srv := httptest.NewTLSServer(tlsF.srv.Config.Handler)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.PostForm(srv.URL+"/login", url.Values{"token": {tlsF.token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || c.Name == "strata_session" && c.Secure
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("TLS: %d, cookies %v: want 303 and a Secure session cookie", resp.StatusCode, resp.Cookies())
	}
}
