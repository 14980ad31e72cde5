package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

// multiToken is a random-looking GitHub token planted in multiPlatform.
const multiToken = "ghp_q7Rk2WmZ9tLx4VbN8cYp3JdH6fGs1aQe5KuT"

// multiPlatform writes a two-platform index whose arm64 image carries a
// token in a file a later layer deletes, and returns its reference.
func multiPlatform(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	token := multiToken
	base := multiBase
	amd := fixture.Image{Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app/a.txt", Body: []byte("nothing\n")}}, CreatedBy: "COPY a.txt /app/"}}}
	arm := fixture.Image{Arch: "arm64", Layers: []fixture.Layer{base,
		{Files: []fixture.File{{Path: "app/a.txt", Body: []byte("t=" + token + "\n")}}, CreatedBy: "COPY a.txt /app/"},
		{Files: []fixture.File{{Path: "app/.wh.a.txt"}}, CreatedBy: "RUN rm /app/a.txt"}}}
	fixture.WriteIndex(t, dir, "multi", amd, arm)
	return "oci:" + dir + ":multi"
}

// multiBase is the base layer of both platforms of multiPlatform.
var multiBase = fixture.Layer{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=debian\n")}}, CreatedBy: "ADD rootfs.tar /"}

// approvedBases returns an approved-base store holding one amd64 image of
// multiBase, named debian: multiPlatform's amd64 image is built on it, its
// arm64 image on no approved base.
func approvedBases(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "base", fixture.Image{Layers: []fixture.Layer{multiBase}})
	db := filepath.Join(t.TempDir(), "bases.db")
	if out, errs, code := run(t, "", "base", "add", "--bases", db, "--name", "debian", "oci:"+dir+":base"); code != ExitOK {
		t.Fatalf("base add: exit %d: %s%s", code, out, errs)
	}
	return db
}

// inlineAssets matches the inline style and script of a page.
var inlineAssets = regexp.MustCompile(`(?s)(<style>|<script>).*?(</style>|</script>)`)

// htmlCase is one rendered report and what it must show.
type htmlCase struct {
	name     string
	golden   string // the golden file when not name
	args     []string
	layers   int // timeline bars
	findings int // markers and table rows
	secrets  []string
	verdicts []string // the provenance status of each image (--bases)
}

func htmlCases(t *testing.T) []htmlCase {
	multi, bases := multiPlatform(t), approvedBases(t)
	return []htmlCase{
		{"scan.html", "", []string{"scan", "--no-cache", "--format", "html", sample}, 4, 5, sampleSecrets, nil},
		{"scan-show-secrets.html", "scan.html", []string{"scan", "--no-cache", "--show-secrets", "--format", "html", sample}, 4, 5, sampleSecrets, nil},
		{"inspect.html", "", []string{"inspect", "--format", "html", sample}, 4, 0, sampleSecrets, nil},
		{"scan-multi.html", "", []string{"scan", "--no-cache", "--format", "html", multi}, 5, 1, []string{multiToken}, nil},
		{"scan-bases.html", "", []string{"scan", "--no-cache", "--format", "html", "--bases", bases, multi}, 5, 1, []string{multiToken},
			[]string{"ok", "no-approved-base"}},
		{"inspect-bases.html", "", []string{"inspect", "--format", "html", "--bases", bases, sample}, 4, 0, sampleSecrets,
			[]string{"no-approved-base"}},
	}
}

// renderHTML runs c and returns the page with temp paths made stable.
func renderHTML(t *testing.T, c htmlCase) string {
	t.Helper()
	out, errs, code := run(t, "", c.args...)
	if code == ExitError {
		t.Fatalf("%v: exit %d: %s", c.args, code, errs)
	}
	ref := c.args[len(c.args)-1]
	if strings.HasPrefix(ref, "oci:/") {
		out = strings.ReplaceAll(out, strings.TrimSuffix(strings.TrimPrefix(ref, "oci:"), ":multi"), "TMP")
	}
	return out
}

func TestHTMLReport(t *testing.T) {
	for _, c := range htmlCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out := renderHTML(t, c)
			for _, s := range c.secrets {
				if strings.Contains(out, s) {
					t.Errorf("the page reveals the secret value %q", s)
				}
			}
			checkWellFormed(t, out)
			doc, err := html.Parse(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			bars := findAll(doc, "rect", "bar")
			markers := findAll(doc, "circle", "marker")
			rows := findAll(doc, "tr", "finding")
			if len(bars) != c.layers || len(markers) != c.findings || len(rows) != c.findings {
				t.Errorf("%d bars (want %d), %d markers and %d finding rows (want %d)", len(bars), c.layers, len(markers), len(rows), c.findings)
			}
			// Every marker links to its row.
			ids := map[string]bool{}
			for _, r := range rows {
				ids[attr(r, "id")] = true
			}
			for _, m := range markers {
				if !ids[attr(m, "data-finding")] {
					t.Errorf("marker for %q has no row", attr(m, "data-finding"))
				}
			}
			verdicts := findAll(doc, "tr", "verdict")
			if len(verdicts) != len(c.verdicts) {
				t.Errorf("%d provenance verdicts, want %d", len(verdicts), len(c.verdicts))
			}
			for i, v := range verdicts {
				if i < len(c.verdicts) && !hasClass(v, "status-"+c.verdicts[i]) {
					t.Errorf("verdict %d is %q, want status %s", i, attr(v, "class"), c.verdicts[i])
				}
			}
			for _, n := range findAll(doc, "script", "") {
				if attr(n, "src") != "" {
					t.Errorf("external script %q", attr(n, "src"))
				}
			}
			for _, a := range []string{"link", "img", "iframe"} {
				if ns := findAll(doc, a, ""); len(ns) > 0 {
					t.Errorf("%d <%s> elements: the page must load nothing", len(ns), a)
				}
			}
			// --show-secrets changes nothing in the page. The inline
			// style and script are the embedded files: left out here.
			name := c.name
			if c.golden != "" {
				name = c.golden
			}
			golden(t, name, inlineAssets.ReplaceAllString(out, "$1…$2"))
		})
	}
}

// TestHTMLDeletedSecretSpan: a deleted secret's timeline shows where it was
// hidden and a span to the last layer, the span over which it is carried.
func TestHTMLDeletedSecretSpan(t *testing.T) {
	out, _, _ := run(t, "", "scan", "--no-cache", "--format", "json", sample)
	var res scan.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	hidden := 0
	for _, f := range res.Findings {
		if f.HiddenBy != nil {
			hidden++
		}
	}
	doc, err := html.Parse(strings.NewReader(renderHTML(t, htmlCases(t)[0])))
	if err != nil {
		t.Fatal(err)
	}
	events := findAll(doc, "rect", "event")
	carried := findAll(doc, "line", "carried")
	if hidden == 0 || len(events) != hidden || len(carried) != hidden {
		t.Errorf("%d hidden findings, %d hide events, %d carried spans", hidden, len(events), len(carried))
	}
}

// checkWellFormed is a strict reading of the page: a doctype first, every
// element closed in order (void elements excepted), ids unique.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Error("no HTML5 doctype")
	}
	void := map[string]bool{"meta": true, "br": true, "img": true, "input": true, "link": true, "hr": true}
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	ids := map[string]bool{}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			if len(stack) > 0 {
				t.Errorf("unclosed elements %v", stack)
			}
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			for _, a := range tok.Attr {
				if a.Key == "id" {
					if ids[a.Val] {
						t.Errorf("duplicate id %q", a.Val)
					}
					ids[a.Val] = true
				}
			}
			if tt == html.StartTagToken && !void[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			tok := z.Token()
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// findAll returns the elements named name with the given class (any class when "").
func findAll(n *html.Node, name string, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == name {
			if class == "" || hasClass(n, class) {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestHTMLInspectChanges: inspect's page lists each layer's entries, the
// hidden ones first and marked, at most report.MaxHTMLChanges a layer.
func TestHTMLInspectChanges(t *testing.T) {
	out, errs, code := run(t, "", "inspect", "--format", "html", sample)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `<tr class="change state-deleted"><td><code>/app/.env</code></td><td>file</td><td class="num">126 B</td><td>deleted by layer 2, still recoverable</td></tr>`) {
		t.Error("the .env layer 2 deletes is not listed as deleted and recoverable")
	}
	dir := t.TempDir()
	var files []fixture.File
	for i := range report.MaxHTMLChanges + 50 {
		files = append(files, fixture.File{Path: fmt.Sprintf("data/f%03d", i), Body: []byte("x")})
	}
	fixture.WriteLayout(t, dir, "many", fixture.Image{Layers: []fixture.Layer{{Files: files}, {Files: []fixture.File{{Path: "data/.wh.f249"}}}}})
	out, errs, code = run(t, "", "inspect", "--format", "html", "oci:"+dir+":many")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	rows := findAll(doc, "tr", "change")
	// Layer 0: 200 of its 250 files (the deleted one first); layer 1: its whiteout.
	if len(rows) != report.MaxHTMLChanges+1 || !strings.Contains(out, "(50 more not shown)") {
		t.Errorf("%d change rows, want %d and 50 omitted", len(rows), report.MaxHTMLChanges+1)
	}
	if !strings.Contains(out, `<tr class="change state-deleted"><td><code>/data/f249</code>`) {
		t.Error("the deleted file is not listed first")
	}
}

// TestBasesNeedsHTML: --bases is refused outside the HTML report, pointing
// at base check, before any image is read.
func TestBasesNeedsHTML(t *testing.T) {
	for _, args := range [][]string{{"scan", "--bases", "b.db", sample}, {"inspect", "--format", "json", "--bases", "b.db", sample}} {
		_, errs, code := run(t, "", args...)
		if code != ExitError || !strings.Contains(errs, "strata base check --bases b.db") {
			t.Errorf("%v: exit %d, %s", args, code, errs)
		}
	}
}
