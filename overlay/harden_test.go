package overlay

import (
	"strings"
	"testing"

	"github.com/stratascan/strata/layer"
)

// TestSameLayerDuplicates: within one layer the last entry for a path wins
// (tar extraction's rule); what an earlier entry put below a path a later
// non-directory replaces is deleted by that same layer.
func TestSameLayerDuplicates(t *testing.T) {
	cases := []struct {
		name   string
		layers [][]*layer.Entry
		want   string // per entry of the last layer: state@hiddenBy
		final  string
	}{
		{"file then file", stack([]string{"x:f:1", "x:f:2"}), "overwritten@0 present", "x:file:2"},
		{"file then dir", stack([]string{"x:f:1", "x:d", "x/y:f:1"}), "overwritten@0 present present", "x:dir:0 x/y:file:1"},
		{"dir then file", stack([]string{"x:d", "x/y:f:1", "x:f:2"}), "overwritten@0 deleted@0 present", "x:file:2"},
		{"symlink then file", stack([]string{"x:l", "x:f:2"}), "overwritten@0 present", "x:file:2"},
		{"below a replaced dir, after it", stack([]string{"x:f:2", "x/y:f:1"}), "present deleted@0", "x:file:2"},
		{"dir then dir merges", stack([]string{"x:d", "x/y:f:1", "x:d"}), "overwritten@0 present present", "x:dir:0 x/y:file:1"},
		{"upper layer dup over lower", stack([]string{"x/z:f:5"}, []string{"x:d", "x:f:2"}), "overwritten@1 present", "x:file:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewListing(c.layers)
			last := len(c.layers) - 1
			var got []string
			for _, r := range l.States[last] {
				s := string(r.State)
				if r.HiddenBy >= 0 {
					s += "@" + string(rune('0'+r.HiddenBy))
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("states = %v, want %s", got, c.want)
			}
			var fin []string
			for _, fe := range l.Final() {
				fin = append(fin, fe.Entry.Path+":"+fe.Entry.Type.String()+":"+string(rune('0'+fe.Entry.Size)))
			}
			if strings.Join(fin, " ") != c.final {
				t.Errorf("final = %v, want %s", fin, c.final)
			}
		})
	}
}

// TestUnsafeMarkersNotApplied: whiteout and opaque markers that climbed out
// of the root hide nothing.
func TestUnsafeMarkersNotApplied(t *testing.T) {
	layers := stack([]string{"top:f", "d/keep:f"}, []string{"top:w", ":o", "d/keep:w"})
	for _, e := range layers[1] {
		e.Unsafe = "name escapes the root"
	}
	l := NewListing(layers)
	for j, r := range l.States[0] {
		if r.State != Present {
			t.Errorf("%s: %+v, want present", layers[0][j].Path, r)
		}
	}
	if l.Stats[1].Deleted != 0 || len(l.Final()) != 2 {
		t.Errorf("stats %+v final %v", l.Stats[1], l.Final())
	}
}

// TestLinearInEntries: 5,000 nested directories and a file at the bottom,
// over a base layer: building the listing visits a constant number of
// nodes per entry (it used to look up every prefix of every path).
func TestLinearInEntries(t *testing.T) {
	const depth = 5000
	var upper []*layer.Entry
	p := ""
	for i := 0; i < depth; i++ {
		if p != "" {
			p += "/"
		}
		p += "d"
		upper = append(upper, &layer.Entry{Path: p, Type: layer.TypeDir})
	}
	upper = append(upper, &layer.Entry{Path: p + "/f", Type: layer.TypeFile})
	layers := [][]*layer.Entry{{{Path: "d", Type: layer.TypeDir}, {Path: "d/x", Type: layer.TypeFile}}, upper}
	tr := New()
	for i, es := range layers {
		for _, e := range es {
			tr.Add(i, e)
		}
	}
	l := tr.Listing(layers)
	n := depth + 3
	if tr.steps > 6*n {
		t.Errorf("%d node visits for %d entries: not linear", tr.steps, n)
	}
	if len(l.Final()) != n-1 {
		t.Errorf("final has %d entries", len(l.Final()))
	}
	if r := tr.State(1, upper[len(upper)-1]); r.State != Present {
		t.Errorf("bottom file %+v", r)
	}
	t.Logf("%d node visits for %d entries", tr.steps, n)
}
