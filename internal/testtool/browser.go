package testtool

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (the Debian chromium package; with
// --no-sandbox, which it needs as root) in a window of the given size and
// returns its context, closed when the test ends, and the directory for
// screenshots: $STRATA_TEST_ARTIFACTS when set, else a temp dir. Open tabs
// with chromedp.NewContext(browser). Missing Chromium fails the test with
// CI set (Require).
func Browser(t testing.TB, width, height int) (browser context.Context, artifacts string) {
	t.Helper()
	chrome := Require(t, "chromium")
	artifacts = os.Getenv("STRATA_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.DisableGPU, chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil { // start Chromium once for every tab
		t.Fatalf("start %s: %v", chrome, err)
	}
	return browser, artifacts
}
