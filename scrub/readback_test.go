package scrub

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
)

// gzTar returns a gzipped tar of files (name -> body) and its diff_id.
func gzTar(t *testing.T, names []string, bodies []string) ([]byte, image.Digest, int64) {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for i, n := range names {
		if err := tw.WriteHeader(fileHeader(n, bodies[i])); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(bodies[i]))
	}
	tw.Close()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	sum := sha256.Sum256(raw.Bytes())
	return z.Bytes(), image.FromSum(sum[:]), int64(raw.Len())
}

func fileHeader(name, body string) *tar.Header {
	return &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
}

// readBackOf feeds blob to a read-back in small writes, as a compressor does.
func readBackOf(blob []byte) *readBack {
	w, rb := startReadBack(context.Background(), image.Gzip)
	for len(blob) > 0 {
		n := min(len(blob), 1000)
		w.Write(blob[:n])
		blob = blob[n:]
	}
	w.CloseWithError(nil)
	return rb.wait()
}

// TestReadBackChecks: the concurrent read-back sees what was written, and
// recheckLayer flags a content, diff_id or decoding fault.
func TestReadBackChecks(t *testing.T) {
	names, bodies := []string{"a", "b"}, []string{strings.Repeat("alpha ", 5000), "beta"}
	blob, diffID, un := gzTar(t, names, bodies)
	var wants []want
	for i, n := range names {
		wants = append(wants, want{entry: layer.EntryOf(fileHeader(n, bodies[i])),
			sum: crc32.Checksum([]byte(bodies[i]), castagnoli)})
	}
	lp := LayerPlan{Index: 1, New: image.Descriptor{Size: int64(len(blob))}, NewDiffID: diffID}
	good := &rewritten{wants: wants, uncompressed: un, back: readBackOf(blob)}
	var v violations
	if _, err := recheckLayer(lp, good, &v); err != nil || v.err() != nil {
		t.Fatalf("intact blob: err %v, violations %v", err, v.err())
	}

	cases := map[string]struct {
		rw   *rewritten
		lp   LayerPlan
		want string
	}{
		"content": {&rewritten{wants: []want{wants[0], {entry: wants[1].entry, sum: wants[1].sum + 1}}, uncompressed: un, back: good.back},
			lp, "/b: content differs"},
		"diff_id": {good, LayerPlan{Index: 1, New: lp.New, NewDiffID: image.FromSum(make([]byte, 32))}, "decompresses to diff_id"},
		"missing": {&rewritten{wants: append(wants, wants[1]), uncompressed: un, back: good.back}, lp, "2 entries written, 3 expected"},
	}
	for name, c := range cases {
		var v violations
		if _, err := recheckLayer(c.lp, c.rw, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := v.err(); !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: violations %v, want %q", name, err, c.want)
		}
	}

	// A corrupted compressed stream fails to decode (or decodes to another
	// diff_id): either way the layer is refused.
	bad := append([]byte(nil), blob...)
	bad[len(bad)/2] ^= 0xff
	rw := &rewritten{wants: wants, uncompressed: un, back: readBackOf(bad)}
	var vb violations
	_, err := recheckLayer(lp, rw, &vb)
	if err == nil {
		err = vb.err()
	}
	if !errors.Is(err, ErrInvariant) {
		t.Fatalf("corrupted blob: err %v, want ErrInvariant", err)
	}
}
