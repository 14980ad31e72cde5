package content_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// zeros is an endless reader that counts what it hands out.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func sha512Of(b []byte) image.Digest {
	s := sha512.Sum512(b)
	return image.Digest("sha512:" + hex.EncodeToString(s[:]))
}

func TestVerify(t *testing.T) {
	body := []byte("layer bytes")
	good := image.Descriptor{Digest: image.FromBytes(body), Size: int64(len(body))}
	for _, c := range []struct {
		name string
		body []byte
		d    image.Descriptor
		want error
	}{
		{"sha256 ok", body, good, nil},
		{"sha512 ok", body, image.Descriptor{Digest: sha512Of(body), Size: int64(len(body))}, nil},
		{"unknown size ok", body, image.Descriptor{Digest: good.Digest, Size: -1}, nil},
		{"sha256 tampered", []byte("layer bytez"), good, content.ErrDigestMismatch},
		{"sha512 made up", []byte("layer bytez"), image.Descriptor{Digest: sha512Of(body), Size: int64(len(body))}, content.ErrDigestMismatch},
		{"truncated", body[:4], good, content.ErrSizeMismatch},
		{"longer", append(append([]byte{}, body...), '!'), good, content.ErrSizeMismatch},
		{"unknown algorithm", body, image.Descriptor{Digest: "foo:hostlayer", Size: int64(len(body))}, image.ErrUnsupportedAlgorithm},
		{"sha384 not registered", body, image.Descriptor{Digest: "sha384:" + image.Digest(strings.Repeat("a", 96)), Size: int64(len(body))}, image.ErrUnsupportedAlgorithm},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := io.ReadAll(content.Verify(bytes.NewReader(c.body), c.d, "layer"))
			if c.want == nil {
				if err != nil || !bytes.Equal(got, c.body) {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var de *content.DigestError
			if c.want == content.ErrDigestMismatch && (!errors.As(err, &de) || de.Want != c.d.Digest || de.What != "layer") {
				t.Fatalf("digest error %+v", de)
			}
		})
	}
}

// Verify and Bound read at most one byte past the declared size from a
// source that never ends.
func TestReadersStopPastDeclaredSize(t *testing.T) {
	d := image.Descriptor{Digest: image.FromBytes(make([]byte, 96)), Size: 96}
	z := &zeros{}
	if _, err := io.ReadAll(content.Verify(z, d, "blob")); !errors.Is(err, content.ErrSizeMismatch) || z.n != 97 {
		t.Fatalf("Verify: err %v after %d bytes, want ErrSizeMismatch after 97", err, z.n)
	}
	z = &zeros{}
	if _, err := io.ReadAll(content.Bound(context.Background(), io.NopCloser(z), d)); !errors.Is(err, content.ErrSizeMismatch) || z.n != 97 {
		t.Fatalf("Bound: err %v after %d bytes, want ErrSizeMismatch after 97", err, z.n)
	}
	// Exactly the declared size passes through Bound untouched.
	b, err := io.ReadAll(content.Bound(context.Background(), io.NopCloser(bytes.NewReader(make([]byte, 96))), d))
	if err != nil || len(b) != 96 {
		t.Fatalf("Bound of an exact body: %d bytes, %v", len(b), err)
	}
}

// Bound stops a read loop as soon as its context is done, even over a
// source that never blocks.
func TestBoundHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := content.Bound(ctx, io.NopCloser(&zeros{}), image.Descriptor{Digest: image.EmptySHA256, Size: -1})
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, r); done <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the read loop ignored cancellation")
	}
}

// storeOf serves one blob.
type storeOf []byte

func (s storeOf) Root(context.Context) (image.Descriptor, error) { return image.Descriptor{}, nil }
func (s storeOf) Open(context.Context, image.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(s)), nil
}
func (s storeOf) Close() error { return nil }

func TestReadAll(t *testing.T) {
	ctx := context.Background()
	cfg := []byte(`{"os":"linux"}`)
	d := image.Descriptor{Digest: image.FromBytes(cfg), Size: int64(len(cfg))}
	if b, err := content.ReadAll(ctx, storeOf(cfg), d, "config", 1<<20); err != nil || !bytes.Equal(b, cfg) {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	if _, err := content.ReadAll(ctx, storeOf(cfg), d, "config", 4); !errors.Is(err, content.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	// Embedded data is used only when it verifies.
	dd := d
	dd.Data = []byte(`{"os":"evil!"}`)
	if b, err := content.ReadAll(ctx, storeOf(cfg), dd, "config", 1<<20); err != nil || !bytes.Equal(b, cfg) {
		t.Fatalf("lying data field: %q, %v", b, err)
	}
	if _, err := content.ReadAll(ctx, storeOf(cfg), image.Descriptor{Digest: "foo:bar", Size: 1}, "config", 1<<20); !errors.Is(err, image.ErrUnsupportedAlgorithm) {
		t.Fatalf("unknown algorithm: %v", err)
	}
}
