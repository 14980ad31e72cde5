package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionCookie is the name of the dashboard's session cookie.
const sessionCookie = "strata_session"

// maxLoginBody bounds the login form.
const maxLoginBody = 16 << 10

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	const p = "bearer "
	if len(v) <= len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}

// equalSecret compares two secrets in constant time, whatever their
// lengths (both are hashed first).
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authorized reports whether r carries the service token or a valid
// session cookie. A store error is logged and counts as unauthorized.
func (h *handler) authorized(r *http.Request) bool {
	if tok, ok := bearer(r); ok {
		valid, err := h.store.CheckToken(r.Context(), tok)
		if err != nil {
			h.log.Error("check the bearer token", "error", err)
			return false
		}
		return valid
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && h.validSession(c.Value)
}

// sessionMAC signs a session's expiry (unix seconds).
func (h *handler) sessionMAC(exp string) []byte {
	m := hmac.New(sha256.New, h.sessionKey)
	m.Write([]byte("strata-session-v1|" + exp))
	return m.Sum(nil)
}

// newSession returns a cookie value: the expiry and its MAC, no token.
func (h *handler) newSession(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(h.sessionMAC(e))
}

func (h *handler) validSession(v string) bool {
	e, mac, ok := strings.Cut(v, ".")
	if !ok || len(v) > 128 {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, h.sessionMAC(e)) {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	return err == nil && h.now().Unix() < exp
}

// api wraps a JSON route: 401 with a JSON error without the token.
func (h *handler) api(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
			h.jsonError(w, http.StatusUnauthorized, "missing or invalid token: send Authorization: Bearer TOKEN (the token strata serve printed on its first start)")
			return
		}
		next(w, r)
	})
}

// page wraps an HTML route: 401 with the login form as the body.
func (h *handler) page(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
			h.renderLogin(w, r, http.StatusUnauthorized, "")
			return
		}
		next(w, r)
	})
}

func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, r, http.StatusOK, "")
}

// login checks a pasted token and sets the session cookie.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	ok := false
	if tok != "" {
		var err error
		if ok, err = h.store.CheckToken(r.Context(), tok); err != nil {
			h.log.Error("check a login token", "error", err)
			h.renderLogin(w, r, http.StatusServiceUnavailable, "The store could not check the token; try again.")
			return
		}
	}
	if !ok {
		h.renderLogin(w, r, http.StatusUnauthorized, "That is not the token of this strata service.")
		return
	}
	exp := h.now().Add(h.sessionTTL)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: h.newSession(exp), Path: "/", Expires: exp,
		MaxAge: int(h.sessionTTL / time.Second), HttpOnly: true, Secure: h.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.secure || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a post-login destination on this site: an absolute
// path, not "//host" nor a scheme; anything else is "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n") || strings.HasPrefix(p, "/login") {
		return "/"
	}
	return p
}
