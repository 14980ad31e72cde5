package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/report"
)

// MaxHookBody bounds a notification body. distribution sends one event per
// request by default, and batches of a few; a megabyte is thousands.
const MaxHookBody = 1 << 20

// Notification media types: distribution 2.x sends events.v1+json, 3.x
// events.v2+json (the same envelope).
const (
	eventsV1 = "application/vnd.docker.distribution.events.v1+json"
	eventsV2 = "application/vnd.docker.distribution.events.v2+json"
)

// ErrEnvelope is returned by ParseEnvelope for a body that is not a
// notification envelope.
var ErrEnvelope = errors.New("not a distribution notification envelope")

// Envelope is distribution's notification body (its notifications.Envelope,
// https://distribution.github.io/distribution/about/notifications/):
// only the fields strata reads; others are ignored.
type Envelope struct {
	Events []Event `json:"events"`
}

// Event is one registry event.
type Event struct {
	ID      string `json:"id"`
	Action  string `json:"action"` // push, pull, mount, delete
	Target  Target `json:"target"`
	Request struct {
		Addr string `json:"addr"`
		Host string `json:"host"` // the Host the client pushed to
	} `json:"request"`
}

// Target is what an event is about.
type Target struct {
	MediaType  string `json:"mediaType"`
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	Repository string `json:"repository"`
	URL        string `json:"url"`
	Tag        string `json:"tag"`
}

// Push is a manifest push to scan.
type Push struct {
	Registry, Repository, Tag string
	Manifest                  image.Digest
}

// ParseEnvelope decodes a notification body: one JSON object with an
// events array, nothing after it.
func ParseEnvelope(b []byte) (*Envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var env Envelope
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrEnvelope)
	}
	if env.Events == nil {
		return nil, fmt.Errorf("%w: no events array", ErrEnvelope)
	}
	return &env, nil
}

// ManifestPush returns the push an event asks to scan: a push of an image
// manifest, index or manifest list (by target.mediaType; blob pushes send
// "push" events too). ok is false for every other event; err says why a
// manifest push event cannot be used.
func (e Event) ManifestPush() (p Push, ok bool, err error) {
	mt, _, _ := strings.Cut(e.Target.MediaType, ";")
	mt = strings.TrimSpace(mt)
	if e.Action != "push" || !(image.IsIndex(mt) || image.IsImageManifest(mt)) {
		return Push{}, false, nil
	}
	d, err := image.ParseDigest(e.Target.Digest)
	if err != nil {
		return Push{}, false, fmt.Errorf("event %s: manifest digest: %w", e.ID, err)
	}
	if e.Target.Repository == "" {
		return Push{}, false, fmt.Errorf("event %s: no target.repository", e.ID)
	}
	host := e.Request.Host
	if host == "" && e.Target.URL != "" {
		if u, perr := url.Parse(e.Target.URL); perr == nil {
			host = u.Host
		}
	}
	if host == "" || strings.ContainsAny(host, "/ \t\r\n") {
		return Push{}, false, fmt.Errorf("event %s: no registry host in request.host or target.url", e.ID)
	}
	return Push{Registry: strings.ToLower(host), Repository: e.Target.Repository, Tag: e.Target.Tag, Manifest: d}, true, nil
}

// hookAuthorized checks the webhook secret in its header, in constant
// time; with no secret configured nothing passes.
func (h *handler) hookAuthorized(r *http.Request) bool {
	if h.hookSecret == "" {
		return false
	}
	if h.hookHeader == "" || h.hookHeader == "Authorization" {
		tok, ok := bearer(r)
		return ok && equalSecret(tok, h.hookSecret)
	}
	v := r.Header.Values(h.hookHeader)
	return len(v) == 1 && equalSecret(strings.TrimSpace(v[0]), h.hookSecret)
}

func (h *handler) hookHeaderHint() string {
	if h.hookHeader == "" || h.hookHeader == "Authorization" {
		return "Authorization: [Bearer SECRET]"
	}
	return h.hookHeader + ": [SECRET]"
}

// hookResult is the webhook's JSON answer.
type hookResult struct {
	Enqueued int `json:"enqueued"`
	Ignored  int `json:"ignored"`
	Invalid  int `json:"invalid"`
}

// hook receives distribution's notifications and enqueues manifest pushes.
func (h *handler) hook(w http.ResponseWriter, r *http.Request) {
	if !h.hookAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="strata-webhook"`)
		h.jsonError(w, http.StatusUnauthorized, "missing or invalid webhook secret: configure the registry's notifications endpoint with headers: {%s}", h.hookHeaderHint())
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != eventsV1 && mt != eventsV2 && mt != "application/json") {
			h.jsonError(w, http.StatusUnsupportedMediaType, "content type %q: want %s", ct, eventsV1)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHookBody))
	if err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			h.jsonError(w, http.StatusRequestEntityTooLarge, "notification body over %d bytes: lower the registry's batch size", MaxHookBody)
			return
		}
		h.jsonError(w, http.StatusBadRequest, "read the notification body: %v", err)
		return
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		h.jsonError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var res hookResult
	for _, e := range env.Events {
		p, ok, err := e.ManifestPush()
		switch {
		case err != nil:
			// Acknowledged: a malformed event would be retried forever
			// and hold up the registry's queue behind it.
			h.log.Warn("webhook: unusable manifest push event", "error", err)
			res.Invalid++
			continue
		case !ok:
			res.Ignored++
			continue
		}
		if err := h.queue.EnqueuePush(r.Context(), p.Registry, p.Repository, p.Tag, p.Manifest); err != nil {
			h.log.Error("webhook: enqueue a push", "registry", p.Registry, "repository", p.Repository, "manifest", p.Manifest, "error", err)
			h.jsonError(w, http.StatusServiceUnavailable, "enqueue %s/%s@%s: the queue is unavailable; the registry will retry", p.Registry, p.Repository, p.Manifest)
			return
		}
		h.log.Info("webhook: push enqueued", "registry", p.Registry, "repository", p.Repository, "tag", p.Tag, "manifest", p.Manifest)
		res.Enqueued++
	}
	h.writeJSON(w, http.StatusOK, res)
}

// writeJSON answers v as JSON (report.JSON's indented encoding).
func (h *handler) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := report.JSON(w, v); err != nil {
		h.log.Debug("write a JSON answer", "error", err)
	}
}

// apiError is every JSON error answer.
type apiError struct {
	Error string `json:"error"`
}

func (h *handler) jsonError(w http.ResponseWriter, code int, format string, args ...any) {
	h.writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}
