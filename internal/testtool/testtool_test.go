package testtool

import "testing"

func TestTruthy(t *testing.T) {
	for _, v := range []string{"1", "true", "TRUE", "True", "yes", "YES", "on", " true "} {
		if !truthy(v) {
			t.Errorf("CI=%q not recognised as true", v)
		}
	}
	for _, v := range []string{"", "0", "false", "FALSE", "no", "off", "maybe"} {
		if truthy(v) {
			t.Errorf("CI=%q taken as true", v)
		}
	}
}

// TestRequireFailsInCI: with CI=1 a missing tool is a failure, not a skip.
func TestRequireFailsInCI(t *testing.T) {
	for _, ci := range []string{"1", "yes", "TRUE"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		func() {
			defer func() { recover() }()
			Require(r, "strata-no-such-tool-xyz")
		}()
		if !r.failed || r.skipped {
			t.Errorf("CI=%s: failed %v skipped %v", ci, r.failed, r.skipped)
		}
	}
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	func() {
		defer func() { recover() }()
		Require(r, "strata-no-such-tool-xyz")
	}()
	if r.failed || !r.skipped {
		t.Errorf("CI unset: failed %v skipped %v", r.failed, r.skipped)
	}
}

// recorder records Fatalf/Skipf instead of ending the real test.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic("fatal")
}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	panic("skip")
}

// TestBuffer: concurrent writers, and the cap drops later writes whole.
func TestBuffer(t *testing.T) {
	b := &Buffer{Max: 10}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
					t.Errorf("Write: %d, %v", n, err)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := b.String(); got != "abcabcabcabc" {
		t.Fatalf("capped buffer holds %q, want four writes (the one reaching the cap kept, later ones dropped)", got)
	}
	var u Buffer
	u.Write([]byte("no cap"))
	if u.String() != "no cap" {
		t.Fatalf("uncapped: %q", u.String())
	}
}
