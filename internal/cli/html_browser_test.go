package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"github.com/stratascan/strata/internal/testtool"
)

// TestHTMLInBrowser opens the HTML reports in headless Chromium: the
// timeline has one bar per layer and one marker per finding, each filter
// hides and shows rows, no secret value is in the DOM, and a screenshot of
// each page as opened is saved (in $STRATA_TEST_ARTIFACTS when set, else the test's
// temp dir).
func TestHTMLInBrowser(t *testing.T) {
	browser, artifacts := testtool.Browser(t, 1200, 1000)
	for _, c := range htmlCases(t) {
		t.Run(c.name, func(t *testing.T) {
			page := filepath.Join(t.TempDir(), c.name)
			out := renderHTML(t, c)
			if err := os.WriteFile(page, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			tab, cancel = context.WithTimeout(tab, time.Minute)
			defer cancel()
			b := browserPage{t: t, ctx: tab}
			b.do(chromedp.Navigate("file://" + page))
			if n := b.count(`svg rect.bar`); n != c.layers {
				t.Errorf("%d timeline bars, want %d (one per layer)", n, c.layers)
			}
			if n := b.count(`svg circle.marker`); n != c.findings {
				t.Errorf("%d markers, want %d (one per finding)", n, c.findings)
			}
			// The base check: one verdict row per image, its status as
			// the table output words it.
			statuses := b.eval(`Array.from(document.querySelectorAll("section.provenance tr.verdict td:nth-child(3)")).map(td => td.innerText).join(",")`)
			if want := strings.Join(c.verdicts, ","); statuses != want {
				t.Errorf("provenance statuses %q, want %q", statuses, want)
			}
			dom := b.eval(`document.documentElement.outerHTML + document.body.innerText`)
			for _, s := range c.secrets {
				if strings.Contains(dom, s) {
					t.Errorf("the DOM reveals the secret value %q", s)
				}
			}
			png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(artifacts, strings.TrimSuffix(c.name, ".html")+".png")
			if err := os.WriteFile(shot, png, 0o644); err != nil {
				t.Fatal(err)
			}
			if len(png) < 8 || string(png[1:4]) != "PNG" {
				t.Errorf("screenshot %s is not a PNG", shot)
			}
			t.Logf("screenshot: %s", shot)
			if c.findings > 0 {
				checkFilters(t, b, out)
			}
		})
	}
}

// checkFilters picks every value of every filter in the page and checks
// the rows shown are exactly those with that value (counted in the file),
// then that "all" shows every row again.
func checkFilters(t *testing.T, b browserPage, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	rows := findAll(doc, "tr", "finding")
	for _, filter := range []string{"severity", "state", "rule"} {
		want := map[string]int{}
		for _, r := range rows {
			want[attr(r, "data-"+filter)]++
		}
		for value, n := range want {
			b.pick(filter, value)
			if got := b.count(`tr.finding:not([hidden])`); got != n {
				t.Errorf("filter %s=%s shows %d rows, want %d", filter, value, got, n)
			}
			if got := b.count(`circle.marker:not(.dim)`); got != n {
				t.Errorf("filter %s=%s leaves %d markers bright, want %d", filter, value, got, n)
			}
		}
		b.pick(filter, "")
		if got := b.count(`tr.finding:not([hidden])`); got != len(rows) {
			t.Errorf("filter %s=all shows %d rows, want %d", filter, got, len(rows))
		}
	}
}

// browserPage runs actions in one tab, failing the test on an error.
type browserPage struct {
	t   *testing.T
	ctx context.Context
}

func (b browserPage) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b browserPage) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b browserPage) count(selector string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(selector)+`).length`))
	if err != nil {
		b.t.Fatalf("count %s: %v", selector, err)
	}
	return n
}

// pick chooses value in the filter's select as a user would: the value
// changes and the select fires its change event.
func (b browserPage) pick(filter, value string) {
	b.t.Helper()
	id := "#filter-" + filter
	b.do(chromedp.SetValue(chromedp.CSS(id), value))
	b.eval(`String(document.querySelector(` + jsString(id) + `).dispatchEvent(new Event("change")))`)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
