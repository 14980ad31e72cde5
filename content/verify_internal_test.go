package content

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stratascan/strata/image"
)

// TestVerifier drives the verifying reader directly: every way a blob can
// differ from its descriptor is an error naming it, and an exact blob passes.
func TestVerifier(t *testing.T) {
	blob := []byte(strings.Repeat("layer bytes ", 1000))
	good := image.Descriptor{Digest: image.FromBytes(blob), Size: int64(len(blob))}
	tampered := append([]byte(nil), blob...)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name string
		r    io.Reader
		d    image.Descriptor
		is   error // nil: must pass
		max  int64 // the most bytes the reader may consume before failing (plus one read's worth)
	}{
		{"exact", bytes.NewReader(blob), good, nil, good.Size},
		{"exact, size unknown", bytes.NewReader(blob), image.Descriptor{Digest: good.Digest, Size: -1}, nil, good.Size},
		{"tampered", bytes.NewReader(tampered), good, ErrDigestMismatch, good.Size},
		{"truncated", bytes.NewReader(blob[:len(blob)-1]), good, ErrSizeMismatch, good.Size},
		{"empty", bytes.NewReader(nil), good, ErrSizeMismatch, 0},
		{"one byte more", bytes.NewReader(append(append([]byte(nil), blob...), 'x')), good, ErrSizeMismatch, good.Size + 1},
		{"endless", neverEnds{}, good, ErrSizeMismatch, good.Size + 1},
		{"other digest, same size", bytes.NewReader(blob), image.Descriptor{Digest: image.FromBytes([]byte("x")), Size: good.Size}, ErrDigestMismatch, good.Size},
		{"stream breaks", io.MultiReader(bytes.NewReader(blob[:10]), iotest.ErrReader(io.ErrUnexpectedEOF)), good, ErrSizeMismatch, 10},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(blob)), good, nil, good.Size},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Verify(c.r, c.d, "layer 7")
			var n int64
			buf := make([]byte, 4096)
			var err error
			for err == nil {
				var m int
				m, err = v.Read(buf)
				n += int64(m)
				if n > c.max+int64(len(buf)) {
					t.Fatalf("read %d bytes, more than %d: not bounded by the descriptor", n, c.max)
				}
			}
			if c.is == nil {
				if err != io.EOF || n != good.Size || v.N() != n {
					t.Fatalf("err %v after %d bytes (N %d), want EOF after %d", err, n, v.N(), good.Size)
				}
				return
			}
			if !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %v", err, c.is)
			}
			if !strings.Contains(err.Error(), "layer 7") || !strings.Contains(err.Error(), string(c.d.Digest)) {
				t.Errorf("error does not name the blob: %v", err)
			}
			// The failure sticks: a caller that ignores it cannot read on.
			if m, again := v.Read(buf); m != 0 || again == nil || again == io.EOF {
				t.Errorf("after a failure: read %d, %v", m, again)
			}
			var de *DigestError
			if errors.Is(c.is, ErrDigestMismatch) && (!errors.As(err, &de) || de.Want != c.d.Digest || de.Got != image.FromBytes(tampered) && de.Got != good.Digest) {
				t.Errorf("DigestError %+v", de)
			}
		})
	}
}

type neverEnds struct{}

func (neverEnds) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

type memStore map[image.Digest][]byte

func (m memStore) Root(context.Context) (image.Descriptor, error) { return image.Descriptor{}, nil }
func (m memStore) Open(_ context.Context, d image.Descriptor) (io.ReadCloser, error) {
	b, ok := m[d.Digest]
	if !ok {
		return nil, ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (m memStore) Close() error { return nil }

// TestReadAll: the cap holds whatever the descriptor says, the content is
// verified, and inline data is used only when it matches its digest.
func TestReadAll(t *testing.T) {
	ctx := context.Background()
	cfg := []byte(`{"architecture":"amd64"}`)
	d := image.Descriptor{Digest: image.FromBytes(cfg), Size: int64(len(cfg))}
	s := memStore{d.Digest: cfg}
	if b, err := ReadAll(ctx, s, d, "config", 1<<10); err != nil || !bytes.Equal(b, cfg) {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	if _, err := ReadAll(ctx, s, d, "config", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	// A descriptor that understates the size cannot make the cap read more.
	liar := image.Descriptor{Digest: d.Digest, Size: -1}
	if _, err := ReadAll(ctx, s, liar, "config", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("unknown size over the limit: %v", err)
	}
	s[d.Digest] = []byte(`{"architecture":"arm64"}`)
	if _, err := ReadAll(ctx, s, d, "config", 1<<10); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("tampered: %v", err)
	}
	// Inline data that matches is used without opening; data that does not
	// match is ignored and the store's (tampered) bytes are refused.
	inline := d
	inline.Data = cfg
	if b, err := ReadAll(ctx, memStore{}, inline, "config", 1<<10); err != nil || !bytes.Equal(b, cfg) {
		t.Errorf("inline data: %q %v", b, err)
	}
	inline.Data = []byte(`{"architecture":"s390x"}`)
	if _, err := ReadAll(ctx, s, inline, "config", 1<<10); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("forged inline data: %v", err)
	}
	if _, err := ReadAll(ctx, memStore{}, d, "config", 1<<10); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}
