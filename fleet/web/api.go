package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/source"
)

// maxScanBody bounds POST /api/v1/scan.
const maxScanBody = 64 << 10

// Finding is one finding as the API answers it: where it is, what it is
// (redacted), since when, and the commands that remove it.
type Finding struct {
	Registry    string       `json:"registry"`
	Repository  string       `json:"repository"`
	Manifest    image.Digest `json:"manifest"`
	Platform    string       `json:"platform,omitempty"`
	Tags        []string     `json:"tags"`
	Rule        string       `json:"rule"`
	Description string       `json:"description,omitempty"`
	Severity    string       `json:"severity"`
	Layer       *int         `json:"layer"`
	LayerDigest image.Digest `json:"layerDigest,omitempty"`
	Path        string       `json:"path"`
	Line        int          `json:"line,omitempty"`
	State       string       `json:"state"`
	HiddenBy    *int         `json:"hiddenBy,omitempty"`
	Redacted    string       `json:"redacted"`
	Fingerprint string       `json:"fingerprint"`
	Encoding    string       `json:"encoding,omitempty"`
	Confidence  string       `json:"confidence,omitempty"`
	Context     string       `json:"context,omitempty"`
	FirstSeen   time.Time    `json:"firstSeen"`
	LastSeen    time.Time    `json:"lastSeen"`
	ResolvedAt  *time.Time   `json:"resolvedAt"`
	// Remediation are the strata command lines that remove the finding
	// (report.RemediationCommands).
	Remediation []string `json:"remediation"`
}

// findingsPage is the answer of GET /api/v1/findings.
type findingsPage struct {
	Findings []Finding `json:"findings"`
	Limit    int       `json:"limit"`
	Offset   int       `json:"offset"`
}

// imageAnswer is the answer of GET /api/v1/images/...
type imageAnswer struct {
	Registry   string           `json:"registry"`
	Repository string           `json:"repository"`
	Manifest   image.Digest     `json:"manifest"`
	Root       image.Digest     `json:"root,omitempty"`
	Platform   string           `json:"platform,omitempty"`
	Tags       []string         `json:"tags"`
	Ruleset    string           `json:"ruleset"`
	ScannedAt  time.Time        `json:"scannedAt"`
	Layers     []store.LayerRef `json:"layers"`
	Findings   []Finding        `json:"findings"`
}

// statusAnswer is the answer of GET /api/v1/status.
type statusAnswer struct {
	Queue          map[string]int   `json:"queue"`
	LayersScanned  int64            `json:"layersScanned"`
	LayerScans     int64            `json:"layerScans"`
	BytesRead      int64            `json:"bytesRead"`
	Images         int64            `json:"images"`
	OpenBySeverity map[string]int64 `json:"openBySeverity"`
	Resolved       int64            `json:"resolved"`
}

// imageRef is the reference the remediation commands name: a tag of the
// image when it has one (tags point at the root a scrub must rewrite),
// else its digest.
func imageRef(r store.FindingRow) string {
	base := r.Registry + "/" + r.Repository
	if len(r.Tags) > 0 {
		return base + ":" + r.Tags[0]
	}
	return base + "@" + string(r.Manifest)
}

// scanFinding is the part of a stored row the report functions read.
func scanFinding(r store.FindingRow) scan.Finding {
	return scan.Finding{Rule: r.Rule, Description: r.Description, Severity: r.Severity,
		Image: r.Registry + "/" + r.Repository, Manifest: r.Manifest, Kind: image.Kind(r.Kind), Platform: r.Platform,
		Layer: r.Layer, LayerDigest: r.LayerDigest, DiffID: r.DiffID, Path: r.Path, Line: r.Line,
		State: overlayState(r.State), HiddenBy: r.HiddenBy, CreatedBy: r.CreatedBy, Redacted: r.Redacted,
		Fingerprint: r.Fingerprint, Encoding: r.Encoding, Confidence: r.Confidence, Validation: r.Validation, Context: r.Context}
}

func apiFinding(r store.FindingRow) Finding {
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return Finding{Registry: r.Registry, Repository: r.Repository, Manifest: r.Manifest, Platform: r.Platform, Tags: tags,
		Rule: r.Rule, Description: r.Description, Severity: r.Severity, Layer: r.Layer, LayerDigest: r.LayerDigest,
		Path: r.Path, Line: r.Line, State: r.State, HiddenBy: r.HiddenBy, Redacted: r.Redacted, Fingerprint: r.Fingerprint,
		Encoding: r.Encoding, Confidence: r.Confidence, Context: r.Context, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		ResolvedAt: r.ResolvedAt, Remediation: report.RemediationCommands(imageRef(r), scanFinding(r))}
}

func apiFindings(rows []store.FindingRow) []Finding {
	out := make([]Finding, 0, len(rows))
	for _, r := range rows {
		out = append(out, apiFinding(r))
	}
	return out
}

// errBadRequest marks a client mistake: 400 with its message.
var errBadRequest = errors.New("bad request")

func (h *handler) apiScan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ref string `json:"ref"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxScanBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			h.jsonError(w, http.StatusRequestEntityTooLarge, "request body over %d bytes", maxScanBody)
			return
		}
		h.jsonError(w, http.StatusBadRequest, `want {"ref": "host/repo:tag"}: %v`, err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		h.jsonError(w, http.StatusBadRequest, `want one JSON object {"ref": "host/repo:tag"}, nothing after it`)
		return
	}
	ref := strings.TrimSpace(req.Ref)
	if tr, _, ok := strings.Cut(ref, ":"); ok && slices.Contains(source.Transports, tr) {
		h.jsonError(w, http.StatusBadRequest, "ref %q is a local %s reference: the fleet scans registry images (host/repo:tag)", ref, tr)
		return
	}
	if _, _, err := registry.ParseReference(ref, false); err != nil || ref == "" {
		h.jsonError(w, http.StatusBadRequest, "ref %q: want host/repo:tag or host/repo@sha256:<hex>", req.Ref)
		return
	}
	if err := h.queue.EnqueueRef(r.Context(), ref); err != nil {
		h.log.Error("enqueue a reference", "ref", ref, "error", err)
		h.jsonError(w, http.StatusServiceUnavailable, "enqueue %s: %v", ref, err)
		return
	}
	h.writeJSON(w, http.StatusAccepted, map[string]string{"enqueued": ref})
}

// findingsFilter reads the query of GET /api/v1/findings.
func findingsFilter(q url.Values) (store.Filter, error) {
	f := store.Filter{Registry: q.Get("registry"), Repository: q.Get("repository"), Rule: q.Get("rule"),
		Severity: strings.ToLower(q.Get("severity")), State: q.Get("state"), Status: q.Get("status")}
	if fp := q.Get("fingerprint"); fp != "" {
		n, err := normalFingerprint(fp)
		if err != nil {
			return f, err
		}
		f.Fingerprint = n
	}
	switch f.Status {
	case "", store.StatusOpen, store.StatusResolved:
	default:
		return f, fmt.Errorf("%w: status %q: use open or resolved", errBadRequest, f.Status)
	}
	switch f.Severity {
	case "", "low", "medium", "high", "critical":
	default:
		return f, fmt.Errorf("%w: severity %q: use low, medium, high or critical", errBadRequest, f.Severity)
	}
	switch overlay.State(f.State) {
	case "", overlay.Present, overlay.Overwritten, overlay.Deleted:
	default:
		return f, fmt.Errorf("%w: state %q: use present, overwritten or deleted", errBadRequest, f.State)
	}
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"limit", &f.Limit, store.MaxLimit}, {"offset", &f.Offset, 1 << 30}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > p.max {
			return f, fmt.Errorf("%w: %s %q: want a number from 0 to %d", errBadRequest, p.name, v, p.max)
		}
		*p.to = n
	}
	if f.Limit == 0 {
		f.Limit = store.DefaultLimit
	}
	return f, nil
}

var fingerprintRE = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)

// normalFingerprint accepts "sha256:<hex>" or the bare hex.
func normalFingerprint(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !fingerprintRE.MatchString(s) {
		return "", fmt.Errorf("%w: fingerprint %q: want sha256:<64 hex digits>", errBadRequest, s)
	}
	if !strings.HasPrefix(s, "sha256:") {
		s = "sha256:" + s
	}
	return s, nil
}

// errorStatus maps a request's error to its status and message: 400 for
// a bad filter or request, 404 for a missing image, else 500 (logged).
func (h *handler) errorStatus(what string, err error) (int, string) {
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, store.ErrBadFilter):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, what + ": not in the store (not scanned yet?)"
	default:
		h.log.Error("store read", "what", what, "error", err)
		return http.StatusInternalServerError, what + ": the store failed; see the server log"
	}
}

// storeError answers an API route's error as JSON.
func (h *handler) storeError(w http.ResponseWriter, what string, err error) {
	code, msg := h.errorStatus(what, err)
	h.jsonError(w, code, "%s", msg)
}

// queryFindings reads the filters of r and lists what they select.
func (h *handler) queryFindings(r *http.Request) (store.Filter, []store.FindingRow, error) {
	f, err := findingsFilter(r.URL.Query())
	if err != nil {
		return f, nil, err
	}
	rows, err := h.store.Findings(r.Context(), f)
	return f, rows, err
}

// queryFingerprint lists the findings of the fingerprint in r's path.
func (h *handler) queryFingerprint(r *http.Request) (string, []store.FindingRow, error) {
	fp, err := normalFingerprint(r.PathValue("fp"))
	if err != nil {
		return "", nil, err
	}
	rows, err := h.store.Fingerprint(r.Context(), fp)
	return fp, rows, err
}

// queryImage reads the image named by r's path.
func (h *handler) queryImage(r *http.Request) (imageKey, *store.ImageView, error) {
	k, err := parseImageKey(r)
	if err != nil {
		return k, nil, err
	}
	v, err := h.store.Image(r.Context(), k.Registry, k.Repository, k.Manifest)
	return k, v, err
}

func (h *handler) apiFindings(w http.ResponseWriter, r *http.Request) {
	f, rows, err := h.queryFindings(r)
	if err != nil {
		h.storeError(w, "findings", err)
		return
	}
	h.writeJSON(w, http.StatusOK, findingsPage{Findings: apiFindings(rows), Limit: f.Limit, Offset: f.Offset})
}

func (h *handler) apiFingerprint(w http.ResponseWriter, r *http.Request) {
	fp, rows, err := h.queryFingerprint(r)
	if err != nil {
		h.storeError(w, "fingerprint", err)
		return
	}
	h.writeJSON(w, http.StatusOK, map[string]any{"fingerprint": fp, "findings": apiFindings(rows)})
}

// imageKey is an image page's or API route's registry, repository and
// manifest digest: /images/{registry}/{repo...}@{digest}.
type imageKey struct {
	Registry, Repository string
	Manifest             image.Digest
}

func parseImageKey(r *http.Request) (imageKey, error) {
	reg, rest := r.PathValue("registry"), r.PathValue("rest")
	repo, dg, ok := strings.Cut(rest, "@")
	if !ok || repo == "" || reg == "" {
		return imageKey{}, fmt.Errorf("%w: want /images/REGISTRY/REPOSITORY@sha256:<hex>", errBadRequest)
	}
	d, err := image.ParseDigest(dg)
	if err != nil {
		return imageKey{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return imageKey{Registry: reg, Repository: strings.Trim(repo, "/"), Manifest: d}, nil
}

func (k imageKey) String() string { return k.Registry + "/" + k.Repository + "@" + string(k.Manifest) }

// imagePath is the dashboard path of an image.
func imagePath(registry, repo string, d image.Digest) string {
	return "/images/" + registry + "/" + repo + "@" + string(d)
}

func (h *handler) apiImage(w http.ResponseWriter, r *http.Request) {
	k, v, err := h.queryImage(r)
	if err != nil {
		h.storeError(w, "image "+k.String(), err)
		return
	}
	tags, layers := v.Tags, v.Layers
	if tags == nil {
		tags = []string{}
	}
	if layers == nil {
		layers = []store.LayerRef{}
	}
	h.writeJSON(w, http.StatusOK, imageAnswer{Registry: v.Registry, Repository: v.Repository, Manifest: v.Manifest,
		Root: v.Root, Platform: v.Platform, Tags: tags, Ruleset: v.Ruleset, ScannedAt: v.ScannedAt,
		Layers: maskedLayers(layers), Findings: apiFindings(v.Findings)})
}

func (h *handler) apiStatus(w http.ResponseWriter, r *http.Request) {
	q, err := h.queue.QueueStats(r.Context())
	if err != nil {
		h.log.Error("queue stats", "error", err)
		h.jsonError(w, http.StatusServiceUnavailable, "queue stats: %v", err)
		return
	}
	st, err := h.store.Stats(r.Context())
	if err != nil {
		h.storeError(w, "status", err)
		return
	}
	h.writeJSON(w, http.StatusOK, statusAnswer{Queue: q, LayersScanned: st.Layers, LayerScans: st.LayerScans,
		BytesRead: st.BytesRead, Images: st.Images, OpenBySeverity: st.OpenBySeverity, Resolved: st.Resolved})
}
