package provenance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
)

// memStore serves a root manifest and blobs from memory and counts opens.
type memStore struct {
	root  image.Descriptor
	blobs map[image.Digest][]byte
	mu    sync.Mutex
	opens map[image.Digest]int
}

func (s *memStore) Root(context.Context) (image.Descriptor, error) { return s.root, nil }
func (s *memStore) Open(_ context.Context, d image.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opens == nil {
		s.opens = map[image.Digest]int{}
	}
	s.opens[d.Digest]++
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%w: %s", content.ErrNotFound, d.Digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (s *memStore) Close() error { return nil }

type s1History struct {
	V1Compatibility string `json:"v1Compatibility"`
}
type s1FSLayer struct {
	BlobSum image.Digest `json:"blobSum"`
}
type s1Manifest struct {
	SchemaVersion int         `json:"schemaVersion"`
	Name          string      `json:"name"`
	Tag           string      `json:"tag"`
	Architecture  string      `json:"architecture"`
	FSLayers      []s1FSLayer `json:"fsLayers"`
	History       []s1History `json:"history"`
}
type v1Compat struct {
	ID        string `json:"id"`
	Parent    string `json:"parent,omitempty"`
	Created   string `json:"created"`
	Throwaway bool   `json:"throwaway,omitempty"`
	OS        string `json:"os,omitempty"`
	Arch      string `json:"architecture,omitempty"`
	Container struct {
		Cmd []string `json:"Cmd"`
	} `json:"container_config"`
}

// buildSchema1 builds the schema 1 twin of a schema 2 image from the same layer
// blobs, as distribution's schema2→1 conversion did: base-first steps
// reversed to newest-first, v1 ids chained, throwaway entries for empty
// steps (blobSum a3ed95ca…). steps lists, base first, the index of the
// layer blob of each step or -1 for an empty (throwaway) step.
func buildSchema1(t *testing.T, blobs []image.Digest, steps []int) []byte {
	t.Helper()
	m := s1Manifest{SchemaVersion: 1, Name: "test/app", Tag: "latest", Architecture: "amd64"}
	parent := ""
	var fs []s1FSLayer
	var hs []s1History
	for i, li := range steps {
		v := v1Compat{ID: strings.Repeat(fmt.Sprintf("%x", i%16), 64), Parent: parent, Created: "2024-01-02T03:04:05Z"}
		v.Container.Cmd = []string{"/bin/sh", "-c", fmt.Sprintf("step %d", i)}
		blob := image.Schema1ThrowawayBlob
		if li < 0 {
			v.Throwaway = true
		} else {
			blob = blobs[li]
		}
		if i == len(steps)-1 {
			v.OS, v.Arch = "linux", "amd64"
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fs = append([]s1FSLayer{{blob}}, fs...)
		hs = append([]s1History{{string(b)}}, hs...)
		parent = v.ID
	}
	m.FSLayers, m.History = fs, hs
	out, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sign wraps a schema 1 payload the way libtrust's JSONSignature does
// (protected header with formatLength/formatTail; distribution
// manifest/schema1): the body differs from the payload, the digest is the
// payload's. The signature bytes are garbage: only the payload digest matters.
func sign(t *testing.T, payload []byte) []byte {
	t.Helper()
	closeIdx := bytes.LastIndexFunc(payload, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) })
	if payload[closeIdx] != '}' {
		t.Fatal("payload does not end in }")
	}
	formatLength := bytes.LastIndexFunc(payload[:closeIdx], func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }) + 1
	tail := payload[formatLength:]
	b64 := base64.RawURLEncoding.EncodeToString
	prot, _ := json.Marshal(map[string]any{"formatLength": formatLength, "formatTail": b64(tail), "time": "2024-01-02T03:04:05Z"})
	sigs, _ := json.MarshalIndent([]map[string]any{{
		"header":    map[string]any{"jwk": map[string]string{"crv": "P-256", "kty": "EC", "x": "AAAA", "y": "BBBB"}, "alg": "ES256"},
		"signature": b64([]byte("not a real signature")),
		"protected": b64(prot),
	}}, "   ", "   ")
	var buf bytes.Buffer
	buf.Write(payload[:formatLength])
	buf.WriteString(",\n   \"signatures\": ")
	buf.Write(sigs)
	buf.Write(tail)
	return buf.Bytes()
}

func TestSchema1RoundTripsToSchema2DiffIDs(t *testing.T) {
	files := func(name string, n int) []fixture.File {
		return []fixture.File{{Path: name, Body: bytes.Repeat([]byte(name), n)}}
	}
	// A schema 2 image: gzip, zstd and uncompressed layers; layer 3 has the
	// same content (and blob) as layer 1 at a non-consecutive position.
	img := fixture.Image{Layers: []fixture.Layer{
		{Files: files("base", 1000)},
		{Files: files("dup", 10), Compression: "zstd"},
		{Files: files("raw", 10), Compression: "none"},
		{Files: files("dup", 10), Compression: "zstd"},
		{Files: files("top", 10)},
	}}
	b := fixture.Build(t, img)
	var blobs []image.Digest
	store := &memStore{blobs: map[image.Digest][]byte{}}
	for _, l := range b.Layers {
		blobs = append(blobs, l.Digest)
		store.blobs[l.Digest] = l.Bytes
	}
	// Steps: layer 0, ENV (empty), 1, 2, WORKDIR (empty), 3, 4.
	payload := buildSchema1(t, blobs, []int{0, -1, 1, 2, -1, 3, 4})

	for _, tc := range []struct {
		name      string
		mediaType string
		body      []byte
	}{
		{"unsigned", image.MediaTypeSchema1, payload},
		{"signed", image.MediaTypeSchema1Signed, sign(t, payload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.opens = nil
			dg := image.FromBytes(payload)
			store.root = image.Descriptor{MediaType: tc.mediaType, Digest: dg, Size: int64(len(tc.body))}
			store.blobs[dg] = tc.body
			if tc.name == "signed" && bytes.Equal(tc.body, payload) {
				t.Fatal("signed body equals the payload")
			}
			ctx := context.Background()
			if _, err := Inspect(ctx, store, InspectOptions{Reference: "s1"}); !errors.Is(err, ErrNoDiffIDs) {
				t.Fatalf("Inspect without FetchSchema1 = %v, want ErrNoDiffIDs", err)
			}
			ims, err := Inspect(ctx, store, InspectOptions{Reference: "s1", FetchSchema1: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(ims) != 1 {
				t.Fatalf("%d images", len(ims))
			}
			got := ims[0]
			if fmt.Sprint(got.DiffIDs) != fmt.Sprint(b.DiffIDs) {
				t.Errorf("schema 1 diff_ids\n %v\nwant the schema 2 twin's\n %v", got.DiffIDs, b.DiffIDs)
			}
			if fmt.Sprint(got.Layers) != fmt.Sprint(blobs) || got.Digest != dg || got.Platform != "linux/amd64" {
				t.Errorf("layers %v digest %s platform %s", got.Layers, got.Digest, got.Platform)
			}
			// Each distinct blob fetched once; the throwaway blob never.
			for d, n := range store.opens {
				if d != dg && n != 1 {
					t.Errorf("blob %s fetched %d times", d.Short(), n)
				}
			}
			if store.opens[image.Schema1ThrowawayBlob] != 0 {
				t.Error("throwaway blob fetched")
			}
			if n := len(store.opens); n != 1+4 {
				t.Errorf("%d distinct fetches, want manifest + 4 distinct blobs", n)
			}
			// A base recorded from schema 1 matches the schema 2 app built on it.
			base, err := NewBase("s1", got, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			app := append(append([]image.Digest(nil), b.DiffIDs...), image.FromBytes([]byte("app layer")))
			if m := NewIndex([]Base{base}).Match(app, "linux/amd64"); m.Base == nil || m.BaseLayers != 5 || m.AppLayers != 1 {
				t.Errorf("schema 2 app on the schema 1 base: %+v", m)
			}
		})
	}
}

func TestSchema1TamperedBlob(t *testing.T) {
	b := fixture.Build(t, fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "a", Body: []byte("a")}}}}})
	payload := buildSchema1(t, []image.Digest{b.Layers[0].Digest}, []int{0})
	dg := image.FromBytes(payload)
	bad := append([]byte(nil), b.Layers[0].Bytes...)
	bad[len(bad)-5] ^= 0xff
	s := &memStore{root: image.Descriptor{MediaType: image.MediaTypeSchema1, Digest: dg, Size: int64(len(payload))},
		blobs: map[image.Digest][]byte{dg: payload, b.Layers[0].Digest: bad}}
	_, err := Inspect(context.Background(), s, InspectOptions{FetchSchema1: true})
	if !errors.Is(err, content.ErrDigestMismatch) {
		t.Fatalf("tampered schema 1 blob: %v, want ErrDigestMismatch", err)
	}
}

// FuzzBlobDiffID feeds untrusted layer bytes through sniffing and
// decompression: no panic, and an uncompressed blob's diff_id is its digest.
func FuzzBlobDiffID(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Add(fixture.Compress(f, []byte("hello"), "gzip"))
	f.Add(fixture.Compress(f, []byte("hello"), "zstd"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := image.Descriptor{Digest: image.FromBytes(b), Size: int64(len(b))}
		s := &memStore{blobs: map[image.Digest][]byte{d.Digest: b}}
		got, err := BlobDiffID(context.Background(), s, d, "layer")
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b, 0x08}) && !bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) && got != d.Digest {
			t.Fatalf("uncompressed blob: diff_id %s, digest %s", got, d.Digest)
		}
	})
}
