package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
)

// FormatHTML is one self-contained HTML5 page: a layer timeline, the
// findings with filters, and the layers' changes.
const FormatHTML = "html"

//go:embed templates
var templateFS embed.FS

// HTMLTemplates parses the page templates: "base" (the whole page) and the
// partials it is made of, "image", "timeline", "layers" and "findings",
// so that another front end (a dashboard) can serve the same views.
func HTMLTemplates() (*template.Template, error) {
	return template.New("strata").ParseFS(templateFS, "templates/*.html")
}

// HTMLData is the value the "base" template and its partials render for
// rep, secret values scrubbed as HTML does: a front end that executes
// HTMLTemplates with pages of its own passes it to the "image" and
// "findings" partials (its Images and itself).
func HTMLData(rep HTMLReport) (any, error) {
	v, err := newHTMLView(rep)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// HTMLAssets are the report's inline style sheet and script, for pages
// that embed its partials.
func HTMLAssets() (template.CSS, template.JS, error) {
	css, err := templateFS.ReadFile("templates/report.css")
	if err != nil {
		return "", "", err
	}
	js, err := templateFS.ReadFile("templates/report.js")
	if err != nil {
		return "", "", err
	}
	return template.CSS(css), template.JS(js), nil
}

// HTMLImage is one image of an HTML report: its layers, walked (with file
// statistics and wasted bytes) or as the manifest lists them.
type HTMLImage struct {
	Reference string
	Platform  string
	Kind      image.Kind
	Manifest  image.Digest
	// Layers give each layer's size and build step; the step must already
	// have its secret-looking build-arg values masked (inspect.Step).
	Layers      []inspect.LayerInfo
	Walked      bool
	WastedBytes int64
	// Changes, when set, are each layer's entries (by layer index), those a
	// later layer hid first; Omitted counts the entries left out of each.
	Changes [][]HTMLChange
	Omitted []int
}

// HTMLChange is one entry of a layer: what it is and what became of it.
type HTMLChange struct {
	Path     string
	Type     string // file, dir, symlink, whiteout, ...
	Size     int64
	State    overlay.State
	HiddenBy int // the layer that hid it; -1 when present
}

// HTMLReport is what HTML renders.
type HTMLReport struct {
	Command    string // "scan" or "inspect": the page's title
	References []string
	Version    string
	Images     []HTMLImage
	// Scanned shows the findings section (scan), even when it is empty.
	Scanned  bool
	Findings []scan.Finding
	// Provenance, when set, is the base check of the images (--bases).
	Provenance *HTMLProvenance
}

// HTML writes rep as one HTML5 page with its styles, script and pictures
// inline: it loads nothing from elsewhere, so it works offline and when
// attached to a ticket. Secret values are never written: findings show
// their redacted form and fingerprint only, and any value a finding
// carries (Finding.Secret, as with --show-secrets) is also scrubbed from
// every other text of the page (build steps, paths).
func HTML(w io.Writer, rep HTMLReport) error {
	t, err := HTMLTemplates()
	if err != nil {
		return fmt.Errorf("parse the HTML templates: %w", err)
	}
	v, err := newHTMLView(rep)
	if err != nil {
		return err
	}
	return t.ExecuteTemplate(Unwrap(w), "base", v)
}

type htmlView struct {
	Title       string
	Version     string
	References  []string
	Scanned     bool
	Recoverable int
	Images      []imageView
	Findings    []findingView
	Severities  []string
	States      []string
	Rules       []string
	Remediation string
	Provenance  *provenanceView
	CSS         template.CSS
	JS          template.JS
}

type findingView struct {
	ID, Severity, Rule, State, StateText string
	ImageText, Where, PathText           string
	Redacted, Fingerprint                string
	Notes                                string // confidence, encoding, context
	f                                    scan.Finding
}

type imageView struct {
	ID, Reference, PlatformLabel string
	Manifest                     image.Digest
	Kind                         image.Kind
	Walked, Scanned              bool
	WastedText                   string
	Timeline                     timeline
	Rows                         []layerRow
}

type layerRow struct {
	ID, Digest, Size, Uncompressed, Wasted, Step string
	Index, Files, Added, Modified, Deleted       int
	Findings, Omitted                            int
	Changes                                      []changeRow
}

type changeRow struct{ Path, Type, Size, State, StateText string }

func newHTMLView(rep HTMLReport) (*htmlView, error) {
	css, err := templateFS.ReadFile("templates/report.css")
	if err != nil {
		return nil, err
	}
	js, err := templateFS.ReadFile("templates/report.js")
	if err != nil {
		return nil, err
	}
	scrub := secretScrubber(rep.Findings)
	v := &htmlView{Title: "strata " + rep.Command, Version: rep.Version, References: rep.References, Scanned: rep.Scanned,
		CSS: template.CSS(css), JS: template.JS(js)}
	if rep.Scanned && len(rep.Findings) > 0 {
		v.Remediation = "Rotate every secret listed: deleting it in a later layer does not remove it from the image. " +
			"Pass build secrets with RUN --mount=type=secret, not ARG, ENV or COPY; remove leaked images with strata purge."
	}
	v.findings(rep.Findings, scrub)
	v.Provenance = newProvenanceView(rep.Provenance, scrub)
	byImage := map[image.Digest][]int{}
	for i, f := range rep.Findings {
		key := f.Manifest
		if !hasImage(rep.Images, key) && len(rep.Images) > 0 {
			key = rep.Images[0].Manifest // findings of no listed image go to the first
		}
		byImage[key] = append(byImage[key], i)
	}
	for i, im := range rep.Images {
		v.Images = append(v.Images, v.image(i, im, byImage[im.Manifest], scrub))
	}
	return v, nil
}

func hasImage(ims []HTMLImage, d image.Digest) bool {
	for _, im := range ims {
		if im.Manifest == d {
			return true
		}
	}
	return false
}

// secretScrubber returns a function that replaces every secret value the
// findings carry with a redaction mark.
func secretScrubber(fs []scan.Finding) func(string) string {
	var pairs []string
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Secret != "" && !seen[f.Secret] {
			seen[f.Secret] = true
			pairs = append(pairs, f.Secret, "<redacted>")
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

func (v *htmlView) findings(fs []scan.Finding, scrub func(string) string) {
	sev, st, rules := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, f := range fs {
		f.Secret = "" // never rendered
		fv := findingView{ID: "finding-" + strconv.Itoa(i), Severity: strings.ToLower(f.Severity), Rule: f.Rule,
			State: string(f.State), StateText: string(f.State), ImageText: scrub(imageTitle(f)), PathText: scrub(FindingPath(f)),
			Redacted: scrub(f.Redacted), Fingerprint: f.Fingerprint, f: f}
		if f.Line > 0 {
			fv.PathText += ":" + strconv.Itoa(f.Line)
		}
		fv.Notes = findingNotes(f)
		fv.Where = "config"
		if f.Layer != nil {
			fv.Where = "layer " + strconv.Itoa(*f.Layer)
		}
		if f.HiddenBy != nil {
			fv.StateText = fmt.Sprintf("%s by layer %d, still recoverable", f.State, *f.HiddenBy)
			v.Recoverable++
		}
		sev[fv.Severity], st[fv.State], rules[f.Rule] = true, true, true
		v.Findings = append(v.Findings, fv)
	}
	v.Severities = slices.Sorted(maps.Keys(sev))
	sort.SliceStable(v.Severities, func(i, j int) bool {
		return severityRank[v.Severities[i]] > severityRank[v.Severities[j]]
	})
	v.States, v.Rules = slices.Sorted(maps.Keys(st)), slices.Sorted(maps.Keys(rules))
}

func (v *htmlView) image(i int, im HTMLImage, findings []int, scrub func(string) string) imageView {
	iv := imageView{ID: "image-" + strconv.Itoa(i), Reference: im.Reference, PlatformLabel: im.Platform, Manifest: im.Manifest,
		Kind: im.Kind, Walked: im.Walked, Scanned: v.Scanned, WastedText: Bytes(im.WastedBytes)}
	if iv.PlatformLabel == "" {
		iv.PlatformLabel = "(no platform)"
	}
	perLayer := map[int]int{}
	var fvs []findingView
	for _, k := range findings {
		fvs = append(fvs, v.Findings[k])
		if l := v.Findings[k].f.Layer; l != nil {
			perLayer[*l]++
		}
	}
	for _, l := range im.Layers {
		r := layerRow{ID: fmt.Sprintf("%s-layer-%d", iv.ID, l.Index), Index: l.Index, Digest: l.Digest.Short(), Size: Bytes(l.Size),
			Step: scrub(l.CreatedBy), Findings: perLayer[l.Index]}
		if im.Walked {
			r.Uncompressed, r.Wasted = Bytes(l.Uncompressed), Bytes(l.Stats.Wasted)
			r.Files, r.Added, r.Modified, r.Deleted = l.Stats.Files, l.Stats.Added, l.Stats.Modified, l.Stats.Deleted
		}
		if l.Index < len(im.Changes) {
			r.Changes = changeRows(im.Changes[l.Index], scrub)
		}
		if l.Index < len(im.Omitted) {
			r.Omitted = im.Omitted[l.Index]
		}
		iv.Rows = append(iv.Rows, r)
	}
	iv.Timeline = newTimeline(im.Layers, fvs, perLayer, scrub)
	return iv
}

func changeRows(cs []HTMLChange, scrub func(string) string) []changeRow {
	out := make([]changeRow, 0, len(cs))
	for _, c := range cs {
		st := string(c.State)
		if c.HiddenBy >= 0 && c.State != "" {
			st = fmt.Sprintf("%s by layer %d, still recoverable", c.State, c.HiddenBy)
		}
		size := ""
		if c.Type == "file" {
			size = Bytes(c.Size)
		}
		out = append(out, changeRow{Path: scrub(ImagePath(c.Path)), Type: c.Type, Size: size, State: string(c.State), StateText: st})
	}
	return out
}

// findingNotes is how sure the finding is and how the value was found:
// its confidence, the encoding it was under, and an example context.
func findingNotes(f scan.Finding) string {
	var notes []string
	for _, n := range []string{f.Confidence, f.Encoding, f.Context} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	return strings.Join(notes, ", ")
}

// Timeline geometry, in SVG user units.
const (
	tlWidth  = 960
	tlTop    = 24
	tlRow    = 34
	tlBarX   = 90
	tlBarMax = 500
	tlBarH   = 12
	tlLaneX  = 620
	tlLaneW  = 320
	tlStepN  = 80 // build-step characters shown
)

type timeline struct {
	Width, Height int
	BarX, LaneX   int
	Bars          []bar
	Config        *row
	Markers       []marker
	Events        []event
	Spans         []span
}

type row struct{ Y, TextY int }

type bar struct {
	Index, X, Y, W, H, TextY, StepY int
	Label, Step, Title              string
	Findings                        bool
}

type marker struct {
	X                        float64
	Y                        int
	Finding, Severity, Title string
}

type event struct {
	X, CX                 float64
	Y, CY                 int
	Finding, Class, Title string
}

type span struct {
	X                     float64
	Y1, Y2                int
	Finding, Class, Title string
}

// newTimeline lays out one bar per layer, oldest on top, its width by the
// layer's bytes; and per finding, in its own column of the lane on the
// right, a marker where the secret was added, a diamond where a later layer
// deleted or overwrote it, and a dashed span from there to the last layer:
// the image still carries the secret in the earlier layer's blob.
func newTimeline(layers []inspect.LayerInfo, fs []findingView, perLayer map[int]int, scrub func(string) string) timeline {
	t := timeline{Width: tlWidth, BarX: tlBarX, LaneX: tlLaneX}
	var biggest int64 = 1
	for _, l := range layers {
		biggest = max(biggest, layerBytes(l))
	}
	rowY := func(i int) int { return tlTop + i*tlRow }
	pos := map[int]int{} // layer index -> row
	for i, l := range layers {
		pos[l.Index] = i
		n := layerBytes(l)
		w := max(2, int(float64(n)/float64(biggest)*tlBarMax))
		step := Truncate(scrub(l.CreatedBy), tlStepN)
		if step == "" {
			step = "(no build step recorded)"
		}
		t.Bars = append(t.Bars, bar{Index: l.Index, X: tlBarX, Y: rowY(i) + 4, W: w, H: tlBarH, TextY: rowY(i) + 14, StepY: rowY(i) + 28,
			Label: fmt.Sprintf("#%d %s", l.Index, Bytes(n)), Step: step, Findings: perLayer[l.Index] > 0,
			Title: fmt.Sprintf("layer %d: %s, %s", l.Index, Bytes(n), Truncate(scrub(l.CreatedBy), 400))})
	}
	last := len(layers)
	for _, f := range fs {
		if f.f.Layer == nil || !hasKey(pos, *f.f.Layer) {
			t.Config = &row{Y: rowY(last) + 10, TextY: rowY(last) + 14}
		}
	}
	t.Height = rowY(last) + 8
	if t.Config != nil {
		t.Height += tlRow
	}
	step := float64(tlLaneW) / float64(max(len(fs), 1))
	step = min(step, 16)
	for k, f := range fs {
		x := float64(tlLaneX) + 8 + float64(k)*step
		t.place(x, f, pos, rowY, last)
	}
	return t
}

func (t *timeline) place(x float64, f findingView, pos map[int]int, rowY func(int) int, last int) {
	mid := func(r int) int { return rowY(r) + 10 }
	title := fmt.Sprintf("%s %s: %s", f.Severity, f.Rule, f.PathText)
	if f.f.Layer == nil || !hasKey(pos, *f.f.Layer) {
		t.Markers = append(t.Markers, marker{X: x, Y: t.Config.Y, Finding: f.ID, Severity: f.Severity, Title: title + " (added in the config)"})
		return
	}
	added := pos[*f.f.Layer]
	t.Markers = append(t.Markers, marker{X: x, Y: mid(added), Finding: f.ID, Severity: f.Severity,
		Title: fmt.Sprintf("%s, added in layer %d", title, *f.f.Layer)})
	if f.f.HiddenBy == nil || !hasKey(pos, *f.f.HiddenBy) {
		return
	}
	hid := pos[*f.f.HiddenBy]
	t.Spans = append(t.Spans, span{X: x, Y1: mid(added), Y2: mid(hid), Finding: f.ID, Class: "live",
		Title: fmt.Sprintf("visible in layers %d to %d", *f.f.Layer, *f.f.HiddenBy-1)})
	t.Spans = append(t.Spans, span{X: x, Y1: mid(hid), Y2: mid(last - 1), Finding: f.ID, Class: "carried",
		Title: fmt.Sprintf("%s by layer %d but still carried: layer %d's blob ships it in every later layer, to the last (%d)",
			f.State, *f.f.HiddenBy, *f.f.Layer, last-1)})
	t.Events = append(t.Events, event{X: x - 4.5, CX: x, Y: mid(hid) - 4, CY: mid(hid), Finding: f.ID, Class: classOf(f.f.State),
		Title: fmt.Sprintf("%s: %s by layer %d", title, f.State, *f.f.HiddenBy)})
}

func classOf(s overlay.State) string { return string(s) }

func hasKey(m map[int]int, k int) bool { _, ok := m[k]; return ok }

// layerBytes is what a bar's width shows: the uncompressed size when the
// layer was walked, else the blob size.
func layerBytes(l inspect.LayerInfo) int64 {
	if l.Uncompressed > 0 {
		return l.Uncompressed
	}
	return max(l.Size, 0)
}
