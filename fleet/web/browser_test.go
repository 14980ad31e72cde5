package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stratascan/strata/internal/testtool"
)

// TestDashboardInBrowser drives headless Chromium through the dashboard:
// an unauthenticated visit gets the login form, the token logs in, then
// the overview, a fingerprint page and an image page show the expected
// rows and commands, no secret value is anywhere in their DOM, and the
// session cookie is out of the page's reach (HttpOnly). Screenshots go
// to $STRATA_TEST_ARTIFACTS (else the test's temp dir).
func TestDashboardInBrowser(t *testing.T) {
	browser, artifacts := testtool.Browser(t, 1280, 1000)
	f := newFixture(t)
	f.seed(t)
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancel = context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	b := dashPage{t: t, ctx: tab, dir: artifacts}

	b.do(chromedp.Navigate(f.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.check("login", map[string]int{"form.login": 1, "#leaking": 0})
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), f.token), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#leaking")))
	if c := b.eval(`document.cookie`); c != "" {
		t.Errorf("the page can read cookies %q: the session cookie must be HttpOnly", c)
	}
	// team/app and team/api leak; team/old's finding was resolved. New
	// this week: team/app:1.0's two findings and team/api's one
	// (team/app:2.0's is a month old).
	b.check("overview", map[string]int{"tr.repo": 2, "#new tr.dash-finding": 3, "#resolved tr.dash-finding": 1,
		"#leaking a.image-link": 3, `#leaking a.image-link[href="` + f.imageURL("/images", "app2", "team/app") + `"]`: 1})
	b.contains("#new-this-week", "3")
	b.contains("#resolved-this-week", "1")
	b.contains("#leaking", "team/app")
	b.contains("#resolved", "strata purge "+testRegistry+"/team/old@"+string(f.images["old"]))

	b.do(chromedp.Click(chromedp.CSS(`#leaking a[href*="repository=team%2Fapp"]`)), chromedp.WaitVisible(chromedp.CSS("table.dash-findings")))
	b.check("repository", map[string]int{"tr.dash-finding": 3})
	b.do(chromedp.Navigate(f.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#leaking")))

	fp := fingerprint(secretA)
	b.do(chromedp.Click(chromedp.CSS(`#new a.fp[href="/fingerprints/`+fp+`"]`)), chromedp.WaitVisible(chromedp.CSS("table.dash-findings")))
	b.check("fingerprint", map[string]int{"tr.dash-finding": 3, `tr.dash-finding[data-fingerprint="` + fp + `"]`: 3})
	for _, ref := range []string{"team/app:1.0", "team/app:2.0", "team/api:latest"} {
		b.contains("main", "strata purge "+testRegistry+"/"+ref)
	}

	b.do(chromedp.Click(chromedp.CSS(`a[href="`+f.imageURL("/images", "app1", "team/app")+`"]`)), chromedp.WaitVisible(chromedp.CSS("#remediation")))
	b.check("image", map[string]int{"svg rect.bar": 3, "svg circle.marker": 2, "tr.finding": 2, "#remediation tr.dash-finding": 2,
		"svg rect.event": 1})
	b.contains("#remediation", "strata scrub "+testRegistry+"/team/app:1.0 --path /app/.env --replace")
	b.contains("#remediation", "--fingerprint "+fingerprint(secretB)+" --replace")
	b.contains(".layer-table", "GITHUB_TOKEN")
}

// dashPage runs actions in one tab, failing the test on an error.
type dashPage struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (b dashPage) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b dashPage) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// check counts elements by selector, looks for secret values in the DOM
// and saves a screenshot named name.
func (b dashPage) check(name string, counts map[string]int) {
	b.t.Helper()
	for sel, want := range counts {
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsQuote(sel)+`).length`))
		if err != nil {
			b.t.Fatalf("%s: count %s: %v", name, sel, err)
		}
		if n != want {
			b.t.Errorf("%s: %d × %s, want %d", name, n, sel, want)
		}
	}
	assertNoSecrets(b.t, name+" page DOM", b.eval(`document.documentElement.outerHTML + document.body.innerText`))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		b.t.Errorf("%s: the screenshot is not a PNG", name)
	}
	shot := filepath.Join(b.dir, "dashboard-"+name+".png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", shot)
}

// contains checks the text of the first element matching sel.
func (b dashPage) contains(sel, want string) {
	b.t.Helper()
	got := b.eval(`(document.querySelector(` + jsQuote(sel) + `) || {innerText: ""}).innerText`)
	if !strings.Contains(got, want) {
		b.t.Errorf("%s does not show %q; it shows %.400q", sel, want, got)
	}
}

func jsQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
