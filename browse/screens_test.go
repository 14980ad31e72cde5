package browse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/scan"
)

// TestScreens drives the browser over the sample with key sequences at
// fixed sizes and compares each screen with its golden file.
func TestScreens(t *testing.T) {
	s, im := openSample(t)
	eng := engine(t)
	tests := []struct {
		name string
		w, h int
		keys []string
	}{
		{"own-changes-layer2-80x24", 80, 24, []string{"up", "o"}},
		{"filter-env-80x24", 80, 24, []string{"/", "*.env", "enter"}},
		{"sort-size-collapsed-80x24", 80, 24, []string{"z", "tab", "enter"}},
		{"viewer-masked-80x24", 80, 24, []string{"up", "tab", "down", "enter"}},
		{"after-scan-80x24", 80, 24, []string{"s"}},
		{"findings-jump-80x24", 80, 24, []string{"s", "down", "enter"}},
		{"findings-80x24", 80, 24, []string{"s", "esc", "f"}},
		{"wide-120x30", 120, 30, nil},
		{"mouse-wheel-80x24", 80, 24, []string{"wheel-up"}},
		{"small-60x12", 60, 12, []string{"tab", "end"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, s, im, Options{Ref: "oci:examples/leaky-app:latest", Engine: eng}, tc.w, tc.h)
			d.keys(tc.keys...)
			d.golden(tc.name)
		})
	}
}

// TestViewerMasksUnlessShowSecrets checks the viewer never shows the
// sample's Stripe key by default and shows it with ShowSecrets.
func TestViewerMasksUnlessShowSecrets(t *testing.T) {
	s, im := openSample(t)
	for _, show := range []bool{false, true} {
		d := newDriver(t, s, im, Options{Engine: engine(t), ShowSecrets: show}, 80, 24)
		d.keys("up", "tab")
		d.selectPath("/app/.env")
		d.keys("enter")
		if d.m.view == nil {
			t.Fatalf("no viewer: status %q", d.m.Status())
		}
		text := strings.Join(d.m.view.lines, "\n")
		masked := strings.Contains(text, "<redacted:")
		if masked == show || !strings.Contains(text, "STRIPE_API_KEY=") {
			t.Errorf("ShowSecrets %v: viewer shows\n%s", show, text)
		}
	}
}

// TestResize checks every screen line fits after a resize.
func TestResize(t *testing.T) {
	s, im := openSample(t)
	d := newDriver(t, s, im, Options{}, 80, 24)
	for _, sz := range [][2]int{{40, 10}, {200, 50}, {80, 24}} {
		d.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		lines := strings.Split(d.m.View(), "\n")
		if len(lines) != sz[1] {
			t.Errorf("%dx%d: %d lines", sz[0], sz[1], len(lines))
		}
		for _, l := range lines {
			if n := len([]rune(l)); n > sz[0] {
				t.Errorf("%dx%d: line of %d columns: %q", sz[0], sz[1], n, l)
			}
		}
	}
}

// bigImage writes an image of layers x files regular files, most at
// distinct paths.
func bigImage(b testing.TB, layers, files int) (content.Store, *image.Image) {
	img := fixture.Image{}
	for l := range layers {
		fl := fixture.Layer{CreatedBy: fmt.Sprintf("RUN make part%d", l), Compression: "none"}
		for f := range files {
			p := fmt.Sprintf("d%d/s%d/l%d-f%d", f%50, f%7, l, f)
			if f%10 == 0 { // a tenth of the paths are overwritten by every layer
				p = fmt.Sprintf("d%d/s%d/f%d", f%50, f%7, f)
			}
			fl.Files = append(fl.Files, fixture.File{Path: p, Body: []byte("x")})
		}
		if l > 0 {
			fl.Files = append(fl.Files, fixture.File{Path: fmt.Sprintf("d%d/.wh.s0", l%50)})
		}
		img.Layers = append(img.Layers, fl)
	}
	dir := b.TempDir()
	fixture.WriteLayout(b, dir, "latest", img)
	return openRef(b, "oci:"+dir+":latest")
}

// BenchmarkKeyToScreen measures, on an image of 200 layers and 100k files
// (20k with -short): the first screen after the walk, a key press through
// Update and View (moving the file cursor; selecting another layer) and
// the background tree build a layer change starts.
func BenchmarkKeyToScreen(b *testing.B) {
	files := 500
	if testing.Short() {
		files = 100
	}
	s, im := bigImage(b, 200, files)
	d := newDriver(b, s, im, Options{}, 120, 40)
	a := d.m.a
	b.Run("first-screen", func(b *testing.B) {
		for b.Loop() {
			d.m.loaded(loadedMsg{a: a})
			_ = d.m.View()
		}
	})
	d.keys("tab")
	b.Run("move", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			k := "down"
			if i%100 >= 50 {
				k = "up"
			}
			d.keys(k)
			_ = d.m.View()
		}
	})
	d.keys("tab")
	// key to screen: the layers pane moves at once, the tree is built in
	// the background (its command is not run here)
	b.Run("layer", func(b *testing.B) { upDown(b, func(k tea.KeyMsg) { d.m.Update(k); _ = d.m.View() }) })
	// the background build of a layer's tree, until it is on screen
	b.Run("layer-tree", func(b *testing.B) { upDown(b, func(k tea.KeyMsg) { d.send(k); _ = d.m.View() }) })
}

// upDown presses up ten times then down ten times, over and over.
func upDown(b *testing.B, press func(tea.KeyMsg)) {
	up, down := tea.KeyMsg{Type: tea.KeyUp}, tea.KeyMsg{Type: tea.KeyDown}
	for i := 0; b.Loop(); i++ {
		k := up
		if i%20 >= 10 {
			k = down
		}
		press(k)
	}
}

// TestCachedFindingsOnOpen: with a scan cache that holds no result for the
// image, opening it leaves the scan on demand (and scans nothing); once a
// scan stored every layer's results, opening it again fills the findings
// on open, marked as from the cache, without a key press.
func TestCachedFindingsOnOpen(t *testing.T) {
	ctx := context.Background()
	s, im := openSample(t)
	cache, err := scan.OpenCache(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	eng := engine(t)
	opts := Options{Ref: "oci:examples/leaky-app:latest", Engine: eng, Cache: cache}
	keys := scan.NewPlan([]scan.Target{{Store: s, Images: []*image.Image{im}}}).Keys()

	d := newDriver(t, s, im, opts, 80, 24)
	if d.m.scanned || d.m.scanning {
		t.Fatal("an empty cache filled the findings")
	}
	if got, err := cache.Results().LayerResults(ctx, keys, eng.RulesetHash()); err != nil || len(got) != 0 {
		t.Fatalf("opening scanned %d layers into the cache (%v): the scan must stay on demand", len(got), err)
	}
	d.golden("cache-miss-80x24")
	d.keys("s") // the on-demand scan stores every layer's results
	if got, _ := cache.Results().LayerResults(ctx, keys, eng.RulesetHash()); len(got) != len(keys) {
		t.Fatalf("the scan stored %d of %d layers", len(got), len(keys))
	}

	d = newDriver(t, s, im, opts, 80, 24)
	if !d.m.scanned || !d.m.cached || len(d.m.list) != 5 {
		t.Fatalf("open with a full cache: scanned %v, from cache %v, %d findings", d.m.scanned, d.m.cached, len(d.m.list))
	}
	d.golden("cache-hit-80x24")
	d.keys("f")
	d.golden("cache-hit-findings-80x24")
}
