package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/secret"
)

// byteStore is a ResultStore that keeps only the bytes it is given, as a
// database shared by worker processes does, and counts listing reads.
type byteStore struct {
	mu       sync.Mutex
	results  map[string][]byte
	listings map[string][]byte
	texts    map[string][]byte
	listed   int
}

func newByteStore() *byteStore {
	return &byteStore{results: map[string][]byte{}, listings: map[string][]byte{}, texts: map[string][]byte{}}
}

func (s *byteStore) LayerResults(_ context.Context, keys []string, ruleset string) (map[string]*LayerResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*LayerResult{}
	for _, k := range keys {
		if b, ok := s.results[k+" "+ruleset]; ok {
			lr := new(LayerResult)
			if err := lr.UnmarshalBinary(b); err != nil {
				return nil, err // a test store holds only what it was given: no miss expected
			}
			out[k] = lr
		}
	}
	return out, nil
}

func (s *byteStore) PutLayerResult(_ context.Context, key, ruleset string, r *LayerResult) error {
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	l, err := r.MarshalListing()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[key+" "+ruleset], s.listings[key+" "+ruleset] = b, l
	return nil
}

func (s *byteStore) LayerListing(_ context.Context, key, ruleset string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed++
	return s.listings[key+" "+ruleset], nil
}

func (s *byteStore) TextResult(_ context.Context, key, ruleset string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.texts[key+" "+ruleset]
	return b, ok, nil
}

func (s *byteStore) PutTextResult(_ context.Context, key, ruleset string, matches []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts[key+" "+ruleset] = bytes.Clone(matches)
	return nil
}

// multiTargets writes a multi-image target: a two-platform index and the
// image that hides secrets in every way, sharing a base layer, and a
// second tag holding only the base.
func multiTargets(t *testing.T) func() []Target {
	dir := t.TempDir()
	base := fixture.Layer{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=debian\n")}}}
	amd := fixture.Image{Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app/a.txt", Body: []byte("nothing\n")}}}}}
	arm := fixture.Image{Arch: "arm64", Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app/a.txt", Body: []byte("t=" + ghp(70) + "\n")}}}}}
	fixture.WriteIndex(t, dir, "multi", amd, arm)
	hid, _ := hiddenImage(t)
	hid.Layers = append([]fixture.Layer{base}, hid.Layers...)
	fixture.WriteLayout(t, dir, "hidden", hid)
	fixture.WriteLayout(t, dir, "other", fixture.Image{Layers: []fixture.Layer{base}})
	return func() []Target {
		return []Target{open(t, dir, "multi", true), open(t, dir, "hidden", false), open(t, dir, "other", false)}
	}
}

// TestPhasesByHand runs the phases as a fleet would: plan, each layer
// scanned on its own (as by separate workers, each with its own view of
// the source), every result stored as bytes and read back, then
// assembled by yet another view of the targets. The Result (findings,
// states, coverage) is exactly Run's.
func TestPhasesByHand(t *testing.T) {
	ctx := context.Background()
	targets := map[string]func() []Target{
		"leaky-app": func() []Target { return []Target{open(t, "../examples/leaky-app", "latest", false)} },
		"multi":     multiTargets(t),
	}
	for name, tg := range targets {
		want, err := Run(ctx, tg(), Options{Engine: engine(t)})
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Findings) == 0 {
			t.Fatalf("%s: Run found nothing", name)
		}
		wj, _ := json.Marshal(want)
		cache, err := OpenCache(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer cache.Close()
		bs := newByteStore()
		for sname, store := range map[string]ResultStore{"bytes": bs, "cache": cache} {
			t.Run(name+"/"+sname, func(t *testing.T) {
				opts := Options{Engine: engine(t), Results: store}
				plan := NewPlan(tg())
				rs := engine(t).RulesetHash()
				for _, job := range plan.Layers() {
					// a worker of its own: its own source, no shared state
					wjob := job
					wjob.Store = NewPlan(tg()).Layers()[indexOf(t, plan, job.Key)].Store
					lr, err := ScanLayer(ctx, wjob, Options{Engine: engine(t)})
					if err != nil {
						t.Fatal(err)
					}
					if !lr.Verified() || lr.DiffID() == "" {
						t.Fatalf("layer %s: verified %v, diff_id %q", job.Key, lr.Verified(), lr.DiffID())
					}
					if err := store.PutLayerResult(ctx, job.Key, rs, lr); err != nil {
						t.Fatal(err)
					}
				}
				results, err := store.LayerResults(ctx, plan.Keys(), rs)
				if err != nil || len(results) != len(plan.Layers()) {
					t.Fatalf("%d of %d results read back: %v", len(results), len(plan.Layers()), err)
				}
				got, err := Assemble(ctx, NewPlan(tg()), results, opts)
				if err != nil {
					t.Fatal(err)
				}
				if gj, _ := json.Marshal(got); !bytes.Equal(gj, wj) {
					t.Errorf("assembled result differs from Run's:\n%s\n%s", gj, wj)
				}
			})
		}
		if bs.listed == 0 {
			t.Errorf("%s: no listing was read back: the overlay states were not exercised", name)
		}
	}
}

func indexOf(t *testing.T, p *Plan, key string) int {
	t.Helper()
	for i, j := range p.Layers() {
		if j.Key == key {
			return i
		}
	}
	t.Fatalf("layer %s not in the plan", key)
	return -1
}

// TestAssembleMissing: a layer without a result is named in an
// ErrMissingLayers error; the rest (the other layers, the config) is
// still assembled.
func TestAssembleMissing(t *testing.T) {
	ctx := context.Background()
	targets := []Target{open(t, "../examples/leaky-app", "latest", false)}
	plan := NewPlan(targets)
	full, err := Run(ctx, targets, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]*LayerResult{}
	for _, job := range plan.Layers()[1:] {
		lr, err := ScanLayer(ctx, job, Options{Engine: engine(t)})
		if err != nil {
			t.Fatal(err)
		}
		results[job.Key] = lr
	}
	got, err := Assemble(ctx, plan, results, Options{Engine: engine(t)})
	if !errors.Is(err, ErrMissingLayers) || !bytes.Contains([]byte(err.Error()), []byte(plan.Layers()[0].Key)) {
		t.Fatalf("err = %v, want ErrMissingLayers naming %s", err, plan.Layers()[0].Key)
	}
	config := 0
	for _, f := range got.Findings {
		if f.Layer == nil {
			config++
		} else if *f.Layer == 0 {
			t.Errorf("a finding in the missing layer: %+v", f)
		}
	}
	if config == 0 || got.Coverage.Layers != full.Coverage.Layers || got.Coverage.Files >= full.Coverage.Files {
		t.Errorf("config findings %d, coverage %+v (full %+v)", config, got.Coverage, full.Coverage)
	}
}

// randResult is a LayerResult as a walk could produce it, with arbitrary
// strings (UTF-8 or not) and figures.
func randResult(r *mrand.Rand) *LayerResult {
	str := func() string {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		if r.IntN(2) == 0 {
			return fmt.Sprintf("dir/é/%x", b)
		}
		return string(b)
	}
	// match fields travel as JSON, which holds UTF-8 text (a match's file
	// is kept byte for byte)
	text := func() string { return strings.ToValidUTF8(str(), "\uFFFD") }
	lr := &LayerResult{Files: r.Int64N(1 << 40), Scanned: r.Int64N(1 << 20), Binary: r.Int64N(3),
		Members: r.Int64N(1 << 62), Bytes: r.Int64(), Size: r.Int64(), listed: true, verified: true}
	if r.IntN(4) > 0 {
		lr.diffID = image.Digest(fmt.Sprintf("sha256:%064x", r.Uint64()))
	}
	for range r.IntN(5) {
		lr.skips = append(lr.skips, skipRec{str(), str()})
	}
	for range r.IntN(5) {
		e := entryRec{P: str(), T: uint8(r.IntN(256)), U: r.IntN(4) == 0}
		if r.IntN(3) == 0 {
			e.L = str()
		}
		lr.entries = append(lr.entries, e)
	}
	for range r.IntN(4) {
		m := secret.Match{RuleID: text(), Description: text(), Severity: "high", Path: text(), Line: r.IntN(1000),
			Secret: "s3cr3t-" + text(), Redacted: text(), Fingerprint: fp(str()), Entropy: r.Float64() * 6,
			Confidence: "format", Validation: text(), Context: text(), Encoding: text()}
		lr.matches = append(lr.matches, fileMatch{File: str(), Match: m})
	}
	return lr
}

// TestLayerResultRoundTrip: Marshal then Unmarshal gives back every field
// but the secret values, the listing (MarshalListing's, which round-trips
// on its own) and the walk's flags; the bytes never hold a secret value.
func TestLayerResultRoundTrip(t *testing.T) {
	r := mrand.New(mrand.NewPCG(13, 1))
	for i := range 500 {
		lr := randResult(r)
		b, err := lr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range lr.matches {
			if bytes.Contains(b, []byte(m.Match.Secret)) {
				t.Fatalf("case %d: encoding holds a secret value", i)
			}
		}
		var got LayerResult
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want := *lr
		want.entries, want.listed, want.verified = nil, false, false
		want.matches = nil
		for _, m := range lr.matches {
			m.Match.Secret = ""
			want.matches = append(want.matches, m)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("case %d: round trip\n got %#v\nwant %#v", i, got, want)
		}
		if got.DiffID() != lr.DiffID() || got.Findings() != lr.Findings() || got.Verified() {
			t.Fatalf("case %d: accessors %q %d %v", i, got.DiffID(), got.Findings(), got.Verified())
		}
		l, err := lr.MarshalListing()
		if err != nil {
			t.Fatal(err)
		}
		es, full, err := decodeListing(l)
		if err != nil || !full || fmt.Sprintf("%#v", es) != fmt.Sprintf("%#v", append([]entryRec{}, lr.entries...)) {
			t.Fatalf("case %d: listing round trip %v: %#v", i, err, es)
		}
		if _, err := got.MarshalListing(); !errors.Is(err, ErrNoListing) {
			t.Fatalf("case %d: a decoded result has no listing to encode, err = %v", i, err)
		}
	}
}

// FuzzLayerResultUnmarshal: UnmarshalBinary reads bytes that other
// processes wrote to a shared database. Whatever they are, it returns a
// result or an ErrCorruptResult, never panics, and a result it accepts
// encodes to bytes that decode to the same result.
func FuzzLayerResultUnmarshal(f *testing.F) {
	r := mrand.New(mrand.NewPCG(7, 7))
	for range 8 {
		b, _ := randResult(r).MarshalBinary()
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 2, '[', ']'})            // version 1
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f}) // a huge skip count
	f.Add([]byte{2, 5, 's', 'h', 'a', ':', 'x', 0, 0, 0, 0, 0, 0, 0, 2, '[', ']'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var lr LayerResult
		err := lr.UnmarshalBinary(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptResult) {
				t.Fatalf("error %v does not wrap ErrCorruptResult", err)
			}
			return
		}
		b2, err := lr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var lr2 LayerResult
		if err := lr2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("re-encoded result does not decode: %v", err)
		}
		if fmt.Sprintf("%#v", lr) != fmt.Sprintf("%#v", lr2) {
			t.Fatalf("re-encoding changed the result:\n%#v\n%#v", lr, lr2)
		}
	})
}

// FuzzListingDecode: a stored listing is gzip from another process; any
// bytes give a listing or an ErrCorruptResult, never a panic.
func FuzzListingDecode(f *testing.F) {
	f.Add(encodeListing([]entryRec{{P: "a", T: 1}, {P: "a/b", T: 0, U: true}, {P: "l", T: 4, L: "a"}}))
	f.Add(encodeListing(nil))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := decodeListing(b); err != nil && !errors.Is(err, ErrCorruptResult) {
			t.Fatalf("error %v does not wrap ErrCorruptResult", err)
		}
	})
}
