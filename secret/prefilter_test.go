package secret

import "testing"

// TestPrefilter: every occurrence of every keyword is reported, case-insensitively,
// including overlapping ones.
func TestPrefilter(t *testing.T) {
	kws := []string{"key", "ey", "api_key", "s.", "-----begin", "xoxb"}
	p := newPrefilter(kws)
	text := []byte("My API_KEY is x; KEY. they say -----BEGIN xoXb")
	_, hits := p.scan(text, 0, len(text), 0, nil)
	got := map[string][]int{}
	for _, h := range hits {
		got[kws[h.kw]] = append(got[kws[h.kw]], h.pos)
	}
	want := map[string][]int{"api_key": {3}, "key": {7, 17}, "ey": {8, 18, 24}, "s.": {}, "-----begin": {31}, "xoxb": {42}}
	for k, w := range want {
		if len(got[k]) != len(w) {
			t.Errorf("%s: got %v want %v", k, got[k], w)
			continue
		}
		for i := range w {
			if got[k][i] != w[i] {
				t.Errorf("%s: got %v want %v", k, got[k], w)
			}
		}
	}
}

// BenchmarkPrefilter measures the keyword pass alone on generated text.
func BenchmarkPrefilter(b *testing.B) {
	e := benchEngine(b)
	data := genText(8<<20, 1)
	b.SetBytes(int64(len(data)))
	var hits []hit
	for range b.N {
		_, hits = e.pf.scan(data, 0, len(data), 0, hits[:0])
	}
	b.ReportMetric(float64(len(hits))/float64(len(data))*1000, "hits/KB")
}
