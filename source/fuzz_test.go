package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// memStore serves blobs from memory by digest; the first is the root.
type memStore struct {
	root  image.Descriptor
	blobs map[image.Digest][]byte
}

func (m *memStore) Root(context.Context) (image.Descriptor, error) { return m.root, nil }
func (m *memStore) Open(_ context.Context, d image.Descriptor) (io.ReadCloser, error) {
	b, ok := m.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%w: %s", content.ErrNotFound, d.Digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (m *memStore) Close() error { return nil }

// FuzzLoad feeds arbitrary bytes to the loader as a root manifest (an index
// may list the root itself, or anything): it must return an image or an
// error, never panic or run away.
func FuzzLoad(f *testing.F) {
	leaf := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	f.Add(leaf, "application/vnd.oci.image.manifest.v1+json")
	ld := image.FromBytes(leaf)
	f.Add([]byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"unknown","architecture":"unknown"}}]}`, ld, len(leaf), ld, len(leaf))), "")
	f.Add([]byte(`{"schemaVersion":1,"name":"a","tag":"b","architecture":"amd64","fsLayers":[{"blobSum":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],"history":[{"v1Compatibility":"{\"id\":\"x\"}"}]}`), "application/vnd.docker.distribution.manifest.v1+json")
	f.Fuzz(func(t *testing.T, raw []byte, mediaType string) {
		d := image.Descriptor{MediaType: mediaType, Digest: image.FromBytes(raw), Size: int64(len(raw))}
		s := &memStore{root: d, blobs: map[image.Digest][]byte{d.Digest: raw, ld: leaf, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a": []byte("{}")}}
		root, err := LoadWith(context.Background(), s, LoadOptions{MaxDescriptors: 10000})
		if err != nil {
			return
		}
		nodes := 0
		root.Walk(func(*image.Node) { nodes++ })
		if nodes > 10000+1 {
			t.Fatalf("%d nodes from a %d-descriptor bound", nodes, 10000)
		}
		_, _ = Select(root, nil, true)
	})
}
