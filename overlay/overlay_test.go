package overlay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stratascan/strata/layer"
)

// e parses "path:type[:size]" shorthand; type f=file d=dir l=symlink w=whiteout o=opaque.
func e(spec string) *layer.Entry {
	parts := strings.Split(spec, ":")
	en := &layer.Entry{Path: parts[0]}
	switch parts[1] {
	case "f":
		en.Type = layer.TypeFile
	case "d":
		en.Type = layer.TypeDir
	case "l":
		en.Type = layer.TypeSymlink
	case "w":
		en.Type = layer.TypeWhiteout
	case "o":
		en.Type = layer.TypeOpaque
	}
	if len(parts) > 2 {
		fmt.Sscan(parts[2], &en.Size)
	}
	return en
}

func stack(layers ...[]string) [][]*layer.Entry {
	out := make([][]*layer.Entry, len(layers))
	for i, l := range layers {
		for _, s := range l {
			out[i] = append(out[i], e(s))
		}
	}
	return out
}

func TestStates(t *testing.T) {
	cases := []struct {
		name   string
		layers [][]*layer.Entry
		layer  int
		path   string
		state  State
		hidden int
	}{
		{"present", stack([]string{"etc:d", "etc/a:f"}), 0, "etc/a", Present, -1},
		{"overwritten", stack([]string{"etc/a:f"}, []string{"etc/a:f"}), 0, "etc/a", Overwritten, 1},
		{"top copy present", stack([]string{"etc/a:f"}, []string{"etc/a:f"}), 1, "etc/a", Present, -1},
		{"whiteout", stack([]string{"app/.env:f"}, []string{"app/.env:w"}), 0, "app/.env", Deleted, 1},
		{"whiteout same layer does not hide", stack([]string{"app/.env:f", "app/.env:w"}), 0, "app/.env", Present, -1},
		{"ancestor whiteout", stack([]string{"app/sub/key:f"}, []string{"x:f"}, []string{"app:w"}), 0, "app/sub/key", Deleted, 2},
		{"opaque dir", stack([]string{"var/cache/s:f"}, []string{"var/cache:o", "var/cache/new:f"}), 0, "var/cache/s", Deleted, 1},
		{"opaque keeps own layer", stack([]string{"var/cache/s:f"}, []string{"var/cache:o", "var/cache/new:f"}), 1, "var/cache/new", Present, -1},
		{"opaque dir itself stays", stack([]string{"var/cache:d"}, []string{"var/cache:o"}), 0, "var/cache", Present, -1},
		{"root opaque", stack([]string{"a:f"}, []string{":o", "b:f"}), 0, "a", Deleted, 1},
		{"dir replaced by symlink", stack([]string{"opt/app:d", "opt/app/key:f"}, []string{"opt/app:l"}), 0, "opt/app/key", Deleted, 1},
		{"dir itself replaced by symlink", stack([]string{"opt/app:d"}, []string{"opt/app:l"}), 0, "opt/app", Overwritten, 1},
		{"dir over dir merges", stack([]string{"etc:d"}, []string{"etc:d"}), 0, "etc", Present, -1},
		{"lowest hider wins", stack([]string{"a:f"}, []string{"a:f"}, []string{"a:w"}), 0, "a", Overwritten, 1},
		{"recreated after delete", stack([]string{"a:f"}, []string{"a:w"}, []string{"a:f"}), 2, "a", Present, -1},
		{"prefix is not ancestor", stack([]string{"ab/c:f"}, []string{"a:w"}), 0, "ab/c", Present, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewListing(c.layers)
			for j, en := range c.layers[c.layer] {
				if en.Path == c.path && !en.IsWhiteout() {
					got := l.States[c.layer][j]
					if got.State != c.state || got.HiddenBy != c.hidden {
						t.Fatalf("state = %+v, want %s by %d", got, c.state, c.hidden)
					}
					return
				}
			}
			t.Fatalf("entry %s not in layer %d", c.path, c.layer)
		})
	}
}

func TestStatsAndFinal(t *testing.T) {
	l := NewListing(stack(
		[]string{"etc:d", "etc/a:f:100", "etc/b:f:50", "tmp:d", "tmp/x:f:7", "tmp/y:f:3"},
		[]string{"etc/a:f:120", "etc/c:f:1", "tmp:w"},
		[]string{"etc/c:w"},
	))
	want := []LayerStats{
		{Added: 6, Files: 4, Bytes: 160, Wasted: 110},
		{Added: 1, Modified: 1, Deleted: 3, Whiteouts: 1, Files: 2, Bytes: 121, Wasted: 1},
		{Deleted: 1, Whiteouts: 1},
	}
	for i, w := range want {
		if l.Stats[i] != w {
			t.Errorf("layer %d stats = %+v, want %+v", i, l.Stats[i], w)
		}
	}
	var got []string
	for _, fe := range l.Final() {
		got = append(got, fmt.Sprintf("%s@%d", fe.Entry.Path, fe.Layer))
	}
	if s := strings.Join(got, " "); s != "etc@0 etc/a@1 etc/b@0" {
		t.Fatalf("final = %s", s)
	}
}

func TestChainListing(t *testing.T) {
	// Cache layers: 0 base, 1 builder stage on 0 (writes then deletes a key),
	// 2 app stage on 0 (overwrites base file), 3 on 1 (deletes the key).
	layers := stack(
		[]string{"etc/conf:f", "src:d"},
		[]string{"src/key:f"},
		[]string{"etc/conf:f"},
		[]string{"src/key:w"},
	)
	l := NewChainListing(layers, [][]int{{0, 1, 3}, {0, 2}})
	// etc/conf of layer 0: present in chain 0,1,3 (nobody overwrites it there).
	if r := l.States[0][0]; r.State != Present {
		t.Errorf("base conf = %+v, want present (chain 0-1-3 shows it)", r)
	}
	// src/key of layer 1: deleted by layer 3, in the only chain holding 1.
	if r := l.States[1][0]; r.State != Deleted || r.HiddenBy != 3 {
		t.Errorf("builder key = %+v, want deleted by 3", r)
	}
	if r := l.States[2][0]; r.State != Present {
		t.Errorf("app conf = %+v", r)
	}
}
