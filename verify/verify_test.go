package verify

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Test credentials: random values in each provider's format, never real.
const (
	ghToken    = "ghp_R8mK2vX9qL4tZ7wN1pB6cY3hJ5gF0aD8sEeQ"
	awsID      = "AKIAZ2Y3X4W5V6U7T2S3"
	awsSecret  = "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"
	azAccount  = "strataverifytest"
	twSID      = "AC0123456789abcdef0123456789abcdef"
	twToken    = "69dccd91bc8a061cc32db2bfd22378eb"
	regUser    = "deploy"
	regPass    = "Wq8vNf3kLs0p"
	webhookURL = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx"
)

var azKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64)))

// fake is a loopback TLS server standing in for every provider. Each
// handler checks the request as the provider documents it; mode says how
// a valid request is answered.
type fake struct {
	srv      *httptest.Server
	mode     atomic.Value // "active", "inactive", "ratelimit", "slow"
	requests atomic.Int64
	gkey     *rsa.PrivateKey
	mu       sync.Mutex
	problems []string
}

func (f *fake) problem(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func newFake(t *testing.T) *fake {
	f := &fake{}
	f.mode.Store("active")
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.gkey = k
	mux := http.NewServeMux()
	bearerCheck := func(header, prefix, want string, ok func(w http.ResponseWriter)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !f.gate(w) {
				return
			}
			if r.Header.Get(header) != prefix+want || f.mode.Load() == "inactive" {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			ok(w)
		}
	}
	mux.HandleFunc("GET /user", bearerCheck("Authorization", "Bearer ", ghToken, func(w http.ResponseWriter) {
		w.Header().Set("X-OAuth-Scopes", "repo, read:org")
		io.WriteString(w, `{"login":"octo-test"}`)
	}))
	mux.HandleFunc("POST /api/auth.test", func(w http.ResponseWriter, r *http.Request) {
		if !f.gate(w) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer xoxb-1234567890-1234567890123-abcdefghijklmnopqrstuvwx" || f.mode.Load() == "inactive" {
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"team":"T-test","user":"bot-test"}`)
	})
	mux.HandleFunc("POST /services/", func(w http.ResponseWriter, r *http.Request) {
		if !f.gate(w) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != "{}" {
			f.problem("slack webhook got a body %q: it must post nothing", b)
		}
		if f.mode.Load() == "inactive" {
			http.Error(w, "invalid_token", http.StatusForbidden)
			return
		}
		http.Error(w, "invalid_payload", http.StatusBadRequest)
	})
	mux.HandleFunc("POST /{$}", f.sts)
	mux.HandleFunc("POST /token", f.googleToken)
	mux.HandleFunc("GET /{$}", f.azure)
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}", func(w http.ResponseWriter, r *http.Request) {
		if !f.gate(w) {
			return
		}
		u, p, _ := r.BasicAuth()
		if r.PathValue("sid") != twSID+".json" || u != twSID || p != twToken || f.mode.Load() == "inactive" {
			http.Error(w, `{"code":20003}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"sid":"`+twSID+`","status":"active"}`)
	})
	mux.HandleFunc("GET /v2/{$}", func(w http.ResponseWriter, r *http.Request) {
		if !f.gate(w) {
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.srv.URL+`/token-realm",service="test-registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.problem("registry /v2/ got Basic credentials %q directly", u+":"+p)
	})
	mux.HandleFunc("GET /token-realm", func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if r.URL.Query().Get("service") != "test-registry" {
			f.problem("realm: service %q", r.URL.Query().Get("service"))
		}
		if u != regUser || p != regPass || f.mode.Load() == "inactive" {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"token":"t"}`)
	})
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		mux.ServeHTTP(w, r)
	}))
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// gate applies the rate-limited and slow modes; it reports whether the
// handler should go on.
func (f *fake) gate(w http.ResponseWriter) bool {
	switch f.mode.Load() {
	case "ratelimit":
		w.Header().Set("Retry-After", "60")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return false
	case "slow":
		time.Sleep(2500 * time.Millisecond)
	}
	return true
}

// sts checks a GetCallerIdentity call: the form body and a SigV4 signature
// (service sts, region us-east-1) that re-signing with the known secret
// reproduces.
func (f *fake) sts(w http.ResponseWriter, r *http.Request) {
	if !f.gate(w) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if string(body) != "Action=GetCallerIdentity&Version=2011-06-15" {
		f.problem("sts body %q", body)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+awsID+"/") || !strings.Contains(auth, "/us-east-1/sts/aws4_request") {
		http.Error(w, "<Error><Code>InvalidClientTokenId</Code></Error>", http.StatusForbidden)
		return
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		f.problem("sts: X-Amz-Date %q", r.Header.Get("X-Amz-Date"))
	}
	re, _ := http.NewRequest(http.MethodPost, "https://"+r.Host+"/", strings.NewReader(string(body)))
	re.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	sum := sha256.Sum256(body)
	_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: awsID, SecretAccessKey: awsSecret}, re, hex.EncodeToString(sum[:]), "sts", "us-east-1", when)
	if re.Header.Get("Authorization") != auth || f.mode.Load() == "inactive" {
		http.Error(w, "<Error><Code>SignatureDoesNotMatch</Code></Error>", http.StatusForbidden)
		return
	}
	io.WriteString(w, "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/test</Arn><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>")
}

// googleToken checks a jwt-bearer grant: an RS256 JWT signed by the test
// key, with iss, aud and a short expiry.
func (f *fake) googleToken(w http.ResponseWriter, r *http.Request) {
	if !f.gate(w) {
		return
	}
	_ = r.ParseForm()
	if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.problem("google grant_type %q", r.Form.Get("grant_type"))
	}
	parts := strings.Split(r.Form.Get("assertion"), ".")
	bad := func() { http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest) }
	if len(parts) != 3 {
		bad()
		return
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&f.gkey.PublicKey, crypto.SHA256, sum[:], sig) != nil || f.mode.Load() == "inactive" {
		bad()
		return
	}
	var claims struct {
		Iss string `json:"iss"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Iat int64  `json:"iat"`
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(raw, &claims)
	if claims.Iss != "ci@proj.iam.gserviceaccount.com" || claims.Aud != "https://oauth2.googleapis.com/token" || claims.Exp-claims.Iat > 3600 {
		f.problem("google claims %+v", claims)
	}
	io.WriteString(w, `{"access_token":"ya29.x","expires_in":3599}`)
}

// azure checks a List Containers call signed with SharedKey, recomputing
// the string to sign as the Azure Storage documentation spells it.
func (f *fake) azure(w http.ResponseWriter, r *http.Request) {
	if !f.gate(w) {
		return
	}
	if r.URL.RawQuery != "comp=list" {
		f.problem("azure query %q", r.URL.RawQuery)
	}
	sts := "GET\n\n\n\n\n\n\n\n\n\n\n\n" +
		"x-ms-date:" + r.Header.Get("x-ms-date") + "\n" +
		"x-ms-version:" + r.Header.Get("x-ms-version") + "\n" +
		"/" + azAccount + "/\ncomp:list"
	raw, _ := base64.StdEncoding.DecodeString(azKey)
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(sts))
	want := "SharedKey " + azAccount + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if r.Header.Get("Authorization") != want || f.mode.Load() == "inactive" {
		http.Error(w, "<Error><Code>AuthenticationFailed</Code></Error>", http.StatusForbidden)
		return
	}
	io.WriteString(w, "<EnumerationResults/>")
}

func (f *fake) checker(t *testing.T, allow ...string) *Checker {
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	eps := map[string]string{}
	for _, p := range []string{"github", "slack", "slack-webhook", "aws", "google", "azure-storage", "twilio", "registry"} {
		eps[p] = f.srv.URL
	}
	return New(Options{TestEndpoints: eps, TestRoots: pool, Timeout: 2 * time.Second, Interval: time.Millisecond, AllowHosts: allow})
}

func (f *fake) googleCandidate(t *testing.T) Candidate {
	der, err := x509.MarshalPKCS8PrivateKey(f.gkey)
	if err != nil {
		t.Fatal(err)
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	escaped := strings.ReplaceAll(p, "\n", `\n`)
	ctx := `{"type": "service_account", "client_email": "ci@proj.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token", "private_key": "` + escaped + `"}`
	return Candidate{Rule: "gcp-service-account-key", Fingerprint: "fp-google", Secret: escaped, Context: ctx}
}

func candidates(t *testing.T, f *fake) map[string]Candidate {
	return map[string]Candidate{
		"github":        {Rule: "github-pat", Fingerprint: "fp-gh", Secret: ghToken},
		"slack":         {Rule: "slack-bot-token", Fingerprint: "fp-slack", Secret: "xoxb-1234567890-1234567890123-abcdefghijklmnopqrstuvwx"},
		"slack-webhook": {Rule: "slack-webhook-url", Fingerprint: "fp-hook", Secret: webhookURL},
		"aws":           {Rule: "aws-secret-access-key", Fingerprint: "fp-aws", Secret: awsSecret, Related: map[string][]string{"aws-access-token": {awsID}}},
		"google":        f.googleCandidate(t),
		"azure-storage": {Rule: "azure-storage-connection-string", Fingerprint: "fp-az", Secret: "DefaultEndpointsProtocol=https;AccountName=" + azAccount + ";AccountKey=" + azKey + ";EndpointSuffix=core.windows.net"},
		"twilio":        {Rule: "twilio-auth-token", Fingerprint: "fp-tw", Secret: twToken, Context: "TWILIO_ACCOUNT_SID=" + twSID + "\nTWILIO_AUTH_TOKEN=" + twToken},
		"registry": {Rule: "docker-config-auth", Fingerprint: "fp-reg", Secret: base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPass)),
			Context: `{"auths": {"registry.internal.test": {"auth": "` + base64.StdEncoding.EncodeToString([]byte(regUser+":"+regPass)) + `"}}}`},
	}
}

// TestVerdicts: every verifier against its fake provider in each mode.
func TestVerdicts(t *testing.T) {
	f := newFake(t)
	c := f.checker(t, "registry.internal.test")
	cands := candidates(t, f)
	modes := []struct {
		mode string
		want Status
	}{{"active", Active}, {"inactive", Inactive}, {"ratelimit", Unknown}, {"slow", Unknown}}
	for _, m := range modes {
		f.mode.Store(m.mode)
		// The subtests of one mode run in parallel; t.Run returns when they
		// are all done, before the mode changes.
		t.Run(m.mode, func(t *testing.T) {
			for name, cd := range cands {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := c.Check(context.Background(), []Candidate{cd})[cd.Fingerprint]
					if r.Status != m.want {
						t.Fatalf("%s: %+v, want %s", name, r, m.want)
					}
					if r.Provider != name || r.CheckedAt.IsZero() {
						t.Errorf("%s: provider %q checkedAt %v", name, r.Provider, r.CheckedAt)
					}
					if m.want == Active && r.Identity == "" {
						t.Errorf("%s: active without an identity", name)
					}
					out, _ := json.Marshal(r)
					for _, s := range []string{cd.Secret, awsSecret, regPass, azKey, twToken} {
						if strings.Contains(string(out), s) {
							t.Errorf("%s: result reveals a secret: %s", name, out)
						}
					}
				})
			}
		})
	}
	for _, p := range f.problems {
		t.Error(p)
	}
}

// TestNothingSentWhenNotAllowed: unsupported rules, hosts the user did not
// allow, missing context, PyPI and plans send no request at all.
func TestNothingSentWhenNotAllowed(t *testing.T) {
	f := newFake(t)
	c := f.checker(t) // no host allowed
	cands := candidates(t, f)
	blocked := []Candidate{
		cands["registry"],
		{Rule: "generic-api-key", Fingerprint: "fp-gen", Secret: "abc"},
		{Rule: "pypi-upload-token", Fingerprint: "fp-pypi", Secret: "pypi-AgEIcHlwaS5vcmc"},
		{Rule: "aws-secret-access-key", Fingerprint: "fp-aws-alone", Secret: awsSecret},
		{Rule: "twilio-auth-token", Fingerprint: "fp-tw-alone", Secret: twToken},
		{Rule: "databricks-api-token", Fingerprint: "fp-db", Secret: "dapi0123456789abcdef0123456789abcdef"},
	}
	res := c.Check(context.Background(), blocked)
	for _, cd := range blocked {
		if r := res[cd.Fingerprint]; r.Status != Unknown || r.Reason == "" {
			t.Errorf("%s: %+v, want unknown with a reason", cd.Rule, r)
		}
	}
	all := append(blocked, cands["github"], cands["aws"])
	plan := c.Plan(all)
	if len(plan) != len(all) {
		t.Fatalf("plan has %d entries for %d candidates", len(plan), len(all))
	}
	if n := f.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the providers, want none", n)
	}
	for _, p := range plan {
		switch p.Fingerprint {
		case "fp-gh", "fp-aws":
			if p.Skip != "" || p.Host == "" {
				t.Errorf("plan %s: %+v, want a host and no skip", p.Rule, p)
			}
		default:
			if p.Skip == "" {
				t.Errorf("plan %s: %+v, want a skip reason", p.Rule, p)
			}
		}
	}
}

// TestRedirectAndPlainHTTPRefused: a provider that redirects to another
// host, or an endpoint over plain HTTP, never receives the secret.
func TestRedirectAndPlainHTTPRefused(t *testing.T) {
	var leaked atomic.Int64
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/user", http.StatusFound)
	}))
	defer redirector.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { leaked.Add(1) }))
	defer plain.Close()
	pool := x509.NewCertPool()
	pool.AddCert(redirector.Certificate())
	pool.AddCert(other.Certificate())
	cd := Candidate{Rule: "github-pat", Fingerprint: "fp", Secret: ghToken}
	for name, ep := range map[string]string{"redirect": redirector.URL, "plain http": plain.URL} {
		c := New(Options{TestEndpoints: map[string]string{"github": ep}, TestRoots: pool, Timeout: time.Second})
		r := c.Check(context.Background(), []Candidate{cd})["fp"]
		if r.Status != Unknown {
			t.Errorf("%s: %+v, want unknown", name, r)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("the token reached another host or plain HTTP %d times", n)
	}
}

// TestOncePerFingerprintAndCache: duplicates are checked once; a cached
// result is reused without a request.
func TestOncePerFingerprintAndCache(t *testing.T) {
	f := newFake(t)
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	cache := &memCache{m: map[string]Result{}}
	c := New(Options{TestEndpoints: map[string]string{"github": f.srv.URL}, TestRoots: pool, Cache: cache, CacheTTL: time.Hour})
	cd := Candidate{Rule: "github-pat", Fingerprint: "fp-gh", Secret: ghToken}
	res := c.Check(context.Background(), []Candidate{cd, cd, cd})
	if res["fp-gh"].Status != Active || f.requests.Load() != 1 {
		t.Fatalf("%+v after %d requests, want active after 1", res["fp-gh"], f.requests.Load())
	}
	res = c.Check(context.Background(), []Candidate{cd})
	if !res["fp-gh"].Cached || f.requests.Load() != 1 {
		t.Fatalf("second check: %+v, %d requests; want the cached result", res["fp-gh"], f.requests.Load())
	}
	for _, r := range cache.m {
		if b, _ := json.Marshal(r); strings.Contains(string(b), ghToken) {
			t.Fatal("cache holds the secret")
		}
	}
}

type memCache struct {
	mu sync.Mutex
	m  map[string]Result
}

func (m *memCache) Get(_ context.Context, fp string, maxAge time.Duration) (Result, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[fp]
	if ok && time.Since(r.CheckedAt) > maxAge {
		return Result{}, false, nil
	}
	return r, ok, nil
}

func (m *memCache) Put(_ context.Context, fp string, r Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[fp] = r
	return nil
}

// TestProxyHonoured: requests go through HTTPS_PROXY (a CONNECT proxy on
// loopback) as every Go tool does.
func TestProxyHonoured(t *testing.T) {
	f := newFake(t)
	var connects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		tunnel(w, r)
	}))
	defer proxy.Close()
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	// Go never proxies "localhost" or loopback IPs: name the fake by
	// another name, which the tunnel maps back to loopback.
	u, _ := url.Parse(f.srv.URL)
	ep := "https://provider.strata-test:" + u.Port()
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	c := New(Options{TestEndpoints: map[string]string{"github": ep}, TestRoots: pool, Timeout: 2 * time.Second})
	r := c.Check(context.Background(), []Candidate{{Rule: "github-pat", Fingerprint: "fp", Secret: ghToken}})["fp"]
	if connects.Load() == 0 {
		t.Fatalf("no CONNECT reached HTTPS_PROXY (result %+v)", r)
	}
}

// tunnel serves a CONNECT by splicing the client to the target, which must
// be on loopback (the test's own servers).
func tunnel(w http.ResponseWriter, r *http.Request) {
	_, port, _ := net.SplitHostPort(r.Host)
	dst, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		dst.Close()
		return
	}
	src, buf, err := hj.Hijack()
	if err != nil {
		dst.Close()
		return
	}
	io.WriteString(src, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(dst, buf); dst.Close() }()
	io.Copy(src, dst)
	src.Close()
}

// TestDocumentedRequests: each single-request provider gets exactly the
// request its API documentation describes (method, path, credential
// header), and its answers map to active, inactive and unknown.
func TestDocumentedRequests(t *testing.T) {
	cases := []struct {
		provider, rule, secret, context string
		method, path                    string
		auth                            func(r *http.Request) bool
		body                            string
	}{
		{"gitlab", "gitlab-pat", "glpat-abcdefghij0123456789", "", "GET", "/api/v4/personal_access_tokens/self",
			func(r *http.Request) bool { return r.Header.Get("PRIVATE-TOKEN") == "glpat-abcdefghij0123456789" }, `{"name":"ci","scopes":["read_api"]}`},
		{"stripe", "stripe-access-token", "sk_live_0123456789abcdefABCDEF01", "", "GET", "/v1/account",
			func(r *http.Request) bool {
				u, p, ok := r.BasicAuth()
				return ok && u == "sk_live_0123456789abcdefABCDEF01" && p == ""
			}, `{"id":"acct_1"}`},
		{"openai", "openai-api-key", "sk-proj-abcT3BlbkFJdef", "", "GET", "/v1/models",
			func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer sk-proj-abcT3BlbkFJdef" }, `{"data":[]}`},
		{"anthropic", "anthropic-api-key", "sk-ant-api03-xyzAA", "", "GET", "/v1/models",
			func(r *http.Request) bool {
				return r.Header.Get("x-api-key") == "sk-ant-api03-xyzAA" && r.Header.Get("anthropic-version") == "2023-06-01" && r.Header.Get("Authorization") == ""
			}, `{"data":[]}`},
		{"npm", "npm-access-token", "npm_abcdefghijklmnopqrstuvwxyz0123456789", "", "GET", "/-/whoami",
			func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer npm_abcdefghijklmnopqrstuvwxyz0123456789"
			}, `{"username":"pub"}`},
		{"sendgrid", "sendgrid-api-token", "SG.aaaa.bbbb", "", "GET", "/v3/scopes",
			func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer SG.aaaa.bbbb" }, `{"scopes":["mail.send"]}`},
		{"huggingface", "huggingface-access-token", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "", "GET", "/api/whoami-v2",
			func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"
			}, `{"name":"u"}`},
		{"digitalocean", "digitalocean-pat", "dop_v1_0123", "", "GET", "/v2/account",
			func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer dop_v1_0123" }, `{"account":{"uuid":"u-1","status":"active"}}`},
		{"github", "github-app-token", "ghs_0123456789abcdefghijklmnopqrstuvwxyz", "", "GET", "/installation/repositories",
			func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer ghs_0123456789abcdefghijklmnopqrstuvwxyz"
			}, `{"total_count":3}`},
		{"github", "github-app-token", "ghu_0123456789abcdefghijklmnopqrstuvwxyz", "", "GET", "/user",
			func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer ghu_0123456789abcdefghijklmnopqrstuvwxyz"
			}, `{"login":"octo"}`},
		{"databricks", "databricks-api-token", "dapi0123456789abcdef0123456789abcdef", "DATABRICKS_HOST=https://adb-1234.5.azuredatabricks.net\n", "GET", "/api/2.0/preview/scim/v2/Me",
			func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer dapi0123456789abcdef0123456789abcdef"
			}, `{"userName":"me@example.test"}`},
	}
	for _, c := range cases {
		t.Run(c.provider+"/"+c.rule, func(t *testing.T) {
			var live atomic.Bool
			var hits atomic.Int64
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Method != c.method || r.URL.Path != c.path {
					t.Errorf("got %s %s, want %s %s", r.Method, r.URL.Path, c.method, c.path)
				}
				switch {
				case !c.auth(r) || !live.Load():
					http.Error(w, "{}", http.StatusUnauthorized)
				default:
					io.WriteString(w, c.body)
				}
			}))
			defer srv.Close()
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			chk := New(Options{TestEndpoints: map[string]string{c.provider: srv.URL}, TestRoots: pool, Timeout: 5 * time.Second, Interval: time.Millisecond})
			cd := Candidate{Rule: c.rule, Fingerprint: "fp", Secret: c.secret, Context: c.context}
			live.Store(true)
			if r := chk.Check(context.Background(), []Candidate{cd})["fp"]; r.Status != Active || r.Identity == "" || strings.Contains(r.Identity, c.secret) {
				t.Errorf("live: %+v", r)
			}
			live.Store(false)
			if r := chk.Check(context.Background(), []Candidate{cd})["fp"]; r.Status != Inactive {
				t.Errorf("revoked: %+v", r)
			}
			if hits.Load() != 2 {
				t.Errorf("%d requests, want 2", hits.Load())
			}
		})
	}
}
