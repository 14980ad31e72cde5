package purge

import (
	"bytes"
	"testing"
)

// FuzzReadJournal: a journal is read back after crashes; no input may make
// ReadJournal panic, and a journal it accepts has a plan.
func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"type":"plan","plan":{"repository":"r"}}` + "\n" + `{"type":"step","step":{"n":1,"op":"delete-tag","ref":"x"},"state":"start"}` + "\n"))
	f.Add([]byte(`{"type":"plan","plan":{}}` + "\n" + `{"type":"step","step":{"n":1},"state":"done","outcome":"deleted"}` + "\n" + `{"ty`))
	f.Add([]byte(`{"type":"step"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rp, err := ReadJournal(bytes.NewReader(b))
		if err == nil && rp.Plan == nil {
			t.Fatal("accepted a journal without a plan")
		}
		if err == nil {
			_ = rp.Plan.Steps()
		}
	})
}

// FuzzReferrerSubject: tags come from the registry.
func FuzzReferrerSubject(f *testing.F) {
	f.Add("sha256-" + string(bytes.Repeat([]byte("a"), 64)) + ".sig")
	f.Add("latest")
	f.Add("sha512-")
	f.Fuzz(func(t *testing.T, tag string) {
		d, _, ok := ReferrerSubject(tag)
		if ok && d == "" {
			t.Fatal("ok without a digest")
		}
	})
}
