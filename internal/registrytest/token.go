package registrytest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenServer is a Docker token-auth server (the protocol registries use
// for Bearer auth) run in the test process over TLS. It issues JWTs signed
// by a key whose certificate chains to the test CA, granting the full
// account every requested action and the reader account only pull.
type tokenServer struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	certDER []byte

	user, pass    string
	reader, rpass string
	mu            sync.Mutex
	requests      []TokenRequest
}

// TokenRequest is one token request the token server answered.
type TokenRequest struct {
	Account string   // "" = anonymous
	Scopes  []string // as requested, e.g. "repository:app:pull"
	Granted []string // what the token grants, same form
	Status  int      // HTTP status answered
}

const tokenService = "registrytest"

func startTokenServer(t testing.TB, r *Registry) *tokenServer {
	t.Helper()
	key, der := r.ca.issueSigner(t)
	ts := &tokenServer{key: key, certDER: der, user: r.Username, pass: r.Password, reader: r.ReaderUsername, rpass: r.ReaderPassword}
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(ts.serve))
	ts.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	cert, err := tls.LoadX509KeyPair(r.ca.certFile, r.ca.keyFile)
	if err != nil {
		t.Fatalf("registrytest: token server cert: %v", err)
	}
	ts.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ts.srv.StartTLS()
	t.Cleanup(ts.srv.Close)
	return ts
}

// realm names the token server by "localhost": go-containerregistry refuses
// a realm on a loopback or private IP literal unless it is the registry's
// own host:port (SSRF protection), but does not resolve names.
func (ts *tokenServer) realm() string {
	return strings.Replace(ts.srv.URL, "127.0.0.1", "localhost", 1) + "/token"
}

func (ts *tokenServer) serve(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	var scopes []string
	for _, s := range q["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	rec := TokenRequest{Scopes: scopes}
	defer func() {
		ts.mu.Lock()
		ts.requests = append(ts.requests, rec)
		ts.mu.Unlock()
	}()
	u, p, ok := req.BasicAuth()
	full := false
	switch {
	case ok && u == ts.user && p == ts.pass && u != "":
		full = true
	case ok && u == ts.reader && p == ts.rpass && u != "":
	default:
		rec.Status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="registrytest token"`)
		http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
		return
	}
	rec.Account = u
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []access{}
	for _, s := range scopes {
		i, j := strings.Index(s, ":"), strings.LastIndex(s, ":")
		if i < 0 || j <= i {
			continue
		}
		a := access{Type: s[:i], Name: s[i+1 : j], Actions: []string{}}
		for _, act := range strings.Split(s[j+1:], ",") {
			if full || act == "pull" {
				a.Actions = append(a.Actions, act)
			}
		}
		grants = append(grants, a)
		rec.Granted = append(rec.Granted, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	now := time.Now()
	var jti [8]byte
	_, _ = rand.Read(jti[:])
	claims := map[string]any{
		"iss": tokenService, "sub": u, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": hex.EncodeToString(jti[:]), "access": grants,
	}
	tok, err := ts.sign(claims)
	if err != nil {
		rec.Status = http.StatusInternalServerError
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rec.Status = http.StatusOK
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)})
}

// sign makes an ES256 JWS with the signer's certificate in x5c.
func (ts *tokenServer) sign(claims map[string]any) (string, error) {
	hdr, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// TokenRequests returns the token requests answered so far (Options.Token).
func (r *Registry) TokenRequests() []TokenRequest {
	if r.token == nil {
		return nil
	}
	r.token.mu.Lock()
	defer r.token.mu.Unlock()
	return append([]TokenRequest(nil), r.token.requests...)
}
