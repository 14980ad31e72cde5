package web

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

// pageRows bounds the findings listed on one page.
const pageRows = 500

// pages renders the dashboard with the report's templates.
type pages struct {
	t   *template.Template
	css template.CSS
	js  template.JS
}

func newPages() (*pages, error) {
	t, err := report.HTMLTemplates()
	if err != nil {
		return nil, fmt.Errorf("web: parse the report templates: %w", err)
	}
	for _, name := range []string{"dashboard-login", "dashboard-overview", "dashboard-findings", "dashboard-error", "dashboard-fingerprint", "dashboard-image", "image", "findings"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("web: the report templates have no %q", name)
		}
	}
	css, js, err := report.HTMLAssets()
	if err != nil {
		return nil, fmt.Errorf("web: report assets: %w", err)
	}
	return &pages{t: t, css: css, js: js}, nil
}

// page is what every dashboard template reads around its content.
type page struct {
	Title    string
	CSS      template.CSS
	JS       template.JS
	LoggedIn bool
}

// render executes a template into memory first, so a failure answers 500
// instead of half a page.
func (h *handler) render(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := h.pages.t.ExecuteTemplate(&b, name, data); err != nil {
		h.log.Error("render a page", "template", name, "error", err)
		http.Error(w, "the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func (h *handler) newPage(title string) page {
	return page{Title: title, CSS: h.pages.css, JS: h.pages.js, LoggedIn: true}
}

// renderLogin answers the login form with code (401 for a page asked
// without the token), coming back to the page asked for after login.
func (h *handler) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	next := "/"
	if r.Method == http.MethodGet && r.URL.Path != "/login" {
		next = r.URL.RequestURI()
	} else if r.Method == http.MethodPost {
		next = localPath(r.PostForm.Get("next"))
	}
	p := h.newPage("strata: log in")
	p.LoggedIn = false
	h.render(w, code, "dashboard-login", struct {
		page
		Error, Next string
	}{p, msg, localPath(next)})
}

// rowView is one finding row of a dashboard table.
type rowView struct {
	Severity, Rule, ImageText, ImageURL, ImageRef string
	Where, StateText, Path, Redacted              string
	Fingerprint, FingerprintShort, FingerprintURL string
	FirstSeen, LastSeen, Resolved                 string
	Commands                                      []string
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func newRowView(r store.FindingRow) rowView {
	f := scanFinding(r)
	v := rowView{Severity: r.Severity, Rule: r.Rule, ImageRef: imageRef(r),
		ImageURL: imagePath(r.Registry, r.Repository, r.Manifest), Path: report.FindingPath(f), Redacted: r.Redacted,
		Fingerprint: r.Fingerprint, FingerprintShort: report.Truncate(r.Fingerprint, 23),
		FingerprintURL: "/fingerprints/" + url.PathEscape(r.Fingerprint),
		FirstSeen:      when(r.FirstSeen), LastSeen: when(r.LastSeen), Commands: report.RemediationCommands(imageRef(r), f)}
	v.ImageText = r.Registry + "/" + r.Repository + "@" + r.Manifest.Short()
	if len(r.Tags) > 0 {
		v.ImageText = v.ImageRef + " (" + r.Manifest.Short() + ")"
	}
	if r.Line > 0 {
		v.Path += ":" + strconv.Itoa(r.Line)
	}
	v.Where = "config"
	if r.Layer != nil {
		v.Where = "layer " + strconv.Itoa(*r.Layer)
	}
	if r.HiddenBy != nil {
		v.StateText = fmt.Sprintf("%s by layer %d, still recoverable", r.State, *r.HiddenBy)
	}
	if r.ResolvedAt != nil {
		v.Resolved = when(*r.ResolvedAt)
	}
	return v
}

func rowViews(rows []store.FindingRow) []rowView {
	out := make([]rowView, 0, len(rows))
	for _, r := range rows {
		out = append(out, newRowView(r))
	}
	return out
}

// pageError answers a page's error as a page.
func (h *handler) pageError(w http.ResponseWriter, what string, err error) {
	code, msg := h.errorStatus(what, err)
	h.render(w, code, "dashboard-error", struct {
		page
		Message string
	}{h.newPage("strata: " + http.StatusText(code)), msg})
}

type severityCount struct {
	Name  string
	Count int
}

type repoView struct {
	store.RepositoryLeaks
	FindingsURL string
	Images      []imageLink
}

// imageLink is one leaking image of a repository row.
type imageLink struct {
	Label, URL string
	Findings   int
}

func newRepoView(l store.RepositoryLeaks) repoView {
	q := url.Values{"registry": {l.Registry}, "repository": {l.Repository}, "status": {store.StatusOpen}}
	v := repoView{RepositoryLeaks: l, FindingsURL: "/findings?" + q.Encode()}
	for _, m := range l.Manifests {
		label := m.Manifest.Short()
		if len(m.Tags) > 0 {
			label = strings.Join(m.Tags, ", ") + " (" + label + ")"
		}
		if m.Platform != "" {
			label += " " + m.Platform
		}
		v.Images = append(v.Images, imageLink{Label: label, URL: imagePath(l.Registry, l.Repository, m.Manifest), Findings: m.Findings})
	}
	return v
}

func (h *handler) overviewPage(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ov, err := h.store.Overview(r.Context(), now)
	if err != nil {
		h.pageError(w, "overview", err)
		return
	}
	weekAgo := now.Add(-7 * 24 * time.Hour)
	fresh, err := h.recent(r.Context(), store.StatusOpen, func(f store.FindingRow) bool { return !f.FirstSeen.Before(weekAgo) })
	if err != nil {
		h.pageError(w, "overview", err)
		return
	}
	gone, err := h.recent(r.Context(), store.StatusResolved, func(f store.FindingRow) bool {
		return f.ResolvedAt != nil && !f.ResolvedAt.Before(weekAgo)
	})
	if err != nil {
		h.pageError(w, "overview", err)
		return
	}
	var sev []severityCount
	for name, n := range ov.OpenBySeverity {
		sev = append(sev, severityCount{name, n})
	}
	slices.SortFunc(sev, func(a, b severityCount) int { return cmp.Compare(severityOrder(b.Name), severityOrder(a.Name)) })
	var leaking []repoView
	for _, l := range ov.Leaking {
		leaking = append(leaking, newRepoView(l))
	}
	h.render(w, http.StatusOK, "dashboard-overview", struct {
		page
		Overview   *store.Overview
		Severities []severityCount
		Leaking    []repoView
		New        []rowView
		Resolved   []rowView
	}{h.newPage("strata: overview"), ov, sev, leaking, rowViews(fresh), rowViews(gone)})
}

// recent lists findings of a status that keep passes, newest first.
func (h *handler) recent(ctx context.Context, status string, keep func(store.FindingRow) bool) ([]store.FindingRow, error) {
	rows, err := h.store.Findings(ctx, store.Filter{Status: status, Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	rows = slices.DeleteFunc(rows, func(f store.FindingRow) bool { return !keep(f) })
	slices.SortStableFunc(rows, func(a, b store.FindingRow) int { return b.LastSeen.Compare(a.LastSeen) })
	if len(rows) > pageRows {
		rows = rows[:pageRows]
	}
	return rows, nil
}

func severityOrder(s string) int {
	return map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}[s]
}

// findingsPage lists findings with the API's filters.
func (h *handler) findingsPage(w http.ResponseWriter, r *http.Request) {
	f, rows, err := h.queryFindings(r)
	if err != nil {
		h.pageError(w, "findings", err)
		return
	}
	title := "strata: findings"
	if f.Repository != "" {
		title += " in " + f.Repository
	}
	h.render(w, http.StatusOK, "dashboard-findings", struct {
		page
		Filter store.Filter
		Rows   []rowView
	}{h.newPage(title), f, rowViews(rows)})
}

func (h *handler) fingerprintPage(w http.ResponseWriter, r *http.Request) {
	fp, rows, err := h.queryFingerprint(r)
	if err != nil {
		h.pageError(w, "fingerprint", err)
		return
	}
	images := map[string]bool{}
	for _, row := range rows {
		images[row.Registry+"/"+row.Repository+"@"+string(row.Manifest)] = true
	}
	h.render(w, http.StatusOK, "dashboard-fingerprint", struct {
		page
		Fingerprint string
		Images      int
		Rows        []rowView
	}{h.newPage("strata: secret " + report.Truncate(fp, 23)), fp, len(images), rowViews(rows)})
}

func (h *handler) imagePage(w http.ResponseWriter, r *http.Request) {
	k, v, err := h.queryImage(r)
	if err != nil {
		h.pageError(w, "image "+k.String(), err)
		return
	}
	ref := k.String()
	findings := make([]scan.Finding, 0, len(v.Findings))
	for _, f := range v.Findings {
		findings = append(findings, scanFinding(f))
	}
	data, err := report.HTMLData(report.HTMLReport{Command: "image", References: []string{ref}, Scanned: true,
		Images: []report.HTMLImage{{Reference: ref, Platform: v.Platform, Manifest: v.Manifest, Kind: image.KindImage,
			Layers: layerInfos(v.Layers)}}, Findings: findings})
	if err != nil {
		h.log.Error("image page", "image", ref, "error", err)
		http.Error(w, "the page could not be built; see the server log", http.StatusInternalServerError)
		return
	}
	h.render(w, http.StatusOK, "dashboard-image", struct {
		page
		Ref, ScannedAt string
		Tags           []string
		Report         any
		Rows           []rowView
	}{h.newPage("strata: " + v.Repository + "@" + v.Manifest.Short()), ref, when(v.ScannedAt), v.Tags, data, rowViews(v.Findings)})
}

// layerInfos turns stored layers into the report's, build steps masked.
func layerInfos(ls []store.LayerRef) []inspect.LayerInfo {
	out := make([]inspect.LayerInfo, 0, len(ls))
	for _, l := range ls {
		out = append(out, inspect.LayerInfo{Index: l.Index, Digest: l.Digest, DiffID: l.DiffID, Size: l.Size,
			CreatedBy: inspect.Step(l.CreatedBy, false)})
	}
	return out
}

// maskedLayers masks credential-looking build args in the build steps.
func maskedLayers(ls []store.LayerRef) []store.LayerRef {
	out := slices.Clone(ls)
	for i := range out {
		out[i].CreatedBy = inspect.MaskCreatedBy(out[i].CreatedBy)
	}
	return out
}

func overlayState(s string) overlay.State { return overlay.State(s) }

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.store.Ping(ctx); err != nil {
		h.log.Warn("readiness: store not reachable", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store not reachable")
		return
	}
	// Another process may have migrated the store past this binary.
	if v, err := h.store.Version(ctx); err != nil || v != store.SchemaVersion() {
		h.log.Warn("readiness: store schema", "version", v, "want", store.SchemaVersion(), "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "store schema version %d, this strata needs %d\n", v, store.SchemaVersion())
		return
	}
	fmt.Fprintln(w, "ok")
}
