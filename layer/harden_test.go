package layer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
)

// TestSparseCountsAgainstCap: a PAX sparse file of 1 PiB in a layer of a
// few hundred bytes is refused by the byte cap at its header, before a
// single hole is read; a small sparse file reads back with its holes.
func TestSparseCountsAgainstCap(t *testing.T) {
	bomb := compress(t, image.Gzip, fixture.SparseTar(t, "big", 1<<50, []fixture.Fragment{{Offset: 0, Data: []byte("x")}}))
	t.Logf("1 PiB sparse layer: %d bytes", len(bomb))
	read := int64(0)
	_, err := Walk(context.Background(), bytes.NewReader(bomb), desc(bomb), "", Options{MaxBytes: 1 << 30}, func(e *Entry, r io.Reader) error {
		if r != nil {
			n, err := io.Copy(io.Discard, r)
			read += n
			return err
		}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) || read != 0 {
		t.Fatalf("err = %v after reading %d bytes, want ErrTooLarge before any", err, read)
	}

	small := fixture.SparseTar(t, "s", 3<<20, []fixture.Fragment{{Offset: 1 << 20, Data: []byte("mid")}, {Offset: 3<<20 - 3, Data: []byte("end")}},
		fixture.File{Path: "after", Body: []byte("ok")})
	es, bodies, _, err := collect(t, small, desc(small), image.FromBytes(small), Options{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Path != "s" || !es[0].Sparse || es[0].Size != 3<<20 || es[1].Sparse || bodies["after"] != "ok" {
		t.Fatalf("entries %+v", es)
	}
	b := bodies["s"]
	if len(b) != 3<<20 || b[1<<20:1<<20+3] != "mid" || b[len(b)-3:] != "end" || b[:1<<20] != string(make([]byte, 1<<20)) {
		t.Fatalf("sparse body wrong (len %d)", len(b))
	}
	// The same layer under a cap below its logical size is refused.
	if _, _, _, err := collect(t, small, desc(small), "", Options{MaxBytes: 2 << 20}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3 MiB sparse file under a 2 MiB cap: %v", err)
	}
}

// TestClimbingMarkersFlagged: whiteout and opaque markers whose names climb
// out of the root are decoded (so they can be reported) and flagged unsafe
// (so nothing applies them).
func TestClimbingMarkersFlagged(t *testing.T) {
	tarb := mkTar(t, tfile{name: "../.wh.top"}, tfile{name: "../.wh..wh..opq"}, tfile{name: "a/../../.wh.b"}, tfile{name: "ok/.wh.c"})
	es, _, _, err := collect(t, tarb, desc(tarb), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path   string
		typ    Type
		unsafe bool
	}{{"top", TypeWhiteout, true}, {"", TypeOpaque, true}, {"b", TypeWhiteout, true}, {"ok/c", TypeWhiteout, false}}
	for i, w := range want {
		if es[i].Path != w.path || es[i].Type != w.typ || (es[i].Unsafe != "") != w.unsafe {
			t.Errorf("entry %d = %q %s unsafe=%q, want %q %s unsafe=%v", i, es[i].Path, es[i].Type, es[i].Unsafe, w.path, w.typ, w.unsafe)
		}
	}
}
