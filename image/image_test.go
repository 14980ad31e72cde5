package image

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChainIDVectors(t *testing.T) {
	// FIELD-NOTES 1.4 (OCI image-spec config.md).
	e := EmptyLayerDiffID
	got := ChainIDs([]Digest{e, e, e})
	want := []Digest{e,
		"sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548",
		"sha256:7800f80a93336d416612f372faa5f69eb67b353ce6ae9535fa0848f8784c74b1"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ChainID(%d) = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestParseDigest(t *testing.T) {
	for s, ok := range map[string]bool{
		string(EmptySHA256):                  true,
		"sha256:abc":                         false,
		"sha256:" + strings.Repeat("A", 64):  false,
		"sha512:" + strings.Repeat("a", 128): true,
		"blake3:" + strings.Repeat("a", 64):  true,
		"nocolon":                            false,
		"":                                   false,
	} {
		if _, err := ParseDigest(s); (err == nil) != ok {
			t.Errorf("ParseDigest(%q) err = %v, want ok=%v", s, err, ok)
		}
	}
}

func TestParseManifestKinds(t *testing.T) {
	d := func(mt string) Descriptor { return Descriptor{MediaType: mt, Digest: EmptySHA256, Size: 0} }
	mk := func(v any) []byte { b, _ := json.Marshal(v); return b }
	cases := []struct {
		name string
		mt   string
		raw  []byte
		kind Kind
	}{
		{"oci index", MediaTypeOCIIndex, mk(Index{SchemaVersion: 2, Manifests: []Descriptor{d(MediaTypeOCIManifest)}}), KindIndex},
		{"docker list by body", "", mk(Index{SchemaVersion: 2, MediaType: MediaTypeDockerList, Manifests: []Descriptor{d(MediaTypeDockerManifest)}}), KindIndex},
		{"cache index form", MediaTypeOCIIndex, mk(Index{SchemaVersion: 2, Manifests: []Descriptor{d(MediaTypeOCILayerGzip), d(MediaTypeBuildKitCache)}}), KindCache},
		{"image", MediaTypeOCIManifest, mk(Manifest{SchemaVersion: 2, Config: d(MediaTypeOCIConfig), Layers: []Descriptor{d(MediaTypeOCILayerGzip)}}), KindImage},
		{"docker image", MediaTypeDockerManifest, mk(Manifest{SchemaVersion: 2, Config: d(MediaTypeDockerConfig)}), KindImage},
		{"cache manifest form", MediaTypeOCIManifest, mk(Manifest{SchemaVersion: 2, Config: d(MediaTypeBuildKitCache), Layers: []Descriptor{d(MediaTypeOCILayerGzip)}}), KindCache},
		{"attestation", MediaTypeOCIManifest, mk(Manifest{SchemaVersion: 2, Config: d(MediaTypeOCIConfig), Layers: []Descriptor{d(MediaTypeInToto)}}), KindAttestation},
		{"artifact", MediaTypeOCIManifest, mk(Manifest{SchemaVersion: 2, ArtifactType: "application/vnd.example.sbom", Config: d(MediaTypeOCIEmpty)}), KindArtifact},
		{"schema1", "", []byte(`{"schemaVersion":1,"name":"a","tag":"b","architecture":"amd64","fsLayers":[{"blobSum":"` + string(Schema1ThrowawayBlob) + `"}],"history":[{"v1Compatibility":"{\"id\":\"x\"}"}]}`), KindSchema1},
	}
	for _, c := range cases {
		p, err := ParseManifest(c.mt, c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Kind != c.kind {
			t.Errorf("%s: kind %s, want %s", c.name, p.Kind, c.kind)
		}
	}
	for name, raw := range map[string]string{
		"not json":         "{",
		"bad digest":       `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[{"digest":"sha256:xyz","size":1}]}`,
		"neg size":         `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":{"digest":"` + string(EmptySHA256) + `","size":-5}}`,
		"unknown type":     `{"mediaType":"application/x-nope"}`,
		"schema1 mismatch": `{"schemaVersion":1,"fsLayers":[{"blobSum":"` + string(EmptySHA256) + `"}],"history":[]}`,
	} {
		if _, err := ParseManifest("", []byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSchema1LayersAndPayload(t *testing.T) {
	b1 := FromBytes([]byte("base"))
	b2 := FromBytes([]byte("app"))
	m := `{"schemaVersion":1,"name":"r","tag":"t","architecture":"arm64","fsLayers":[` +
		`{"blobSum":"` + string(Schema1ThrowawayBlob) + `"},{"blobSum":"` + string(b2) + `"},{"blobSum":"` + string(b2) + `"},{"blobSum":"` + string(b1) + `"}],` +
		`"history":[{"v1Compatibility":"{\"id\":\"d\",\"parent\":\"c\",\"throwaway\":true,\"container_config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"#(nop) CMD [\\\"sh\\\"]\"]}}"},` +
		`{"v1Compatibility":"{\"id\":\"c\",\"parent\":\"a\"}"},{"v1Compatibility":"{\"id\":\"c\",\"parent\":\"a\"}"},{"v1Compatibility":"{\"id\":\"a\",\"os\":\"linux\"}"}]}`
	s1, err := ParseSchema1([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	layers, hist, err := s1.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 || layers[0].BlobSum != b1 || layers[1].BlobSum != b2 {
		t.Fatalf("layers = %+v (want base first, throwaway and consecutive duplicate dropped)", layers)
	}
	if len(hist) != 3 || !hist[2].EmptyLayer {
		t.Fatalf("history = %+v", hist)
	}
	// Non-consecutive duplicate ids are rejected (moby fixManifestLayers).
	bad := strings.Replace(m, `{\"id\":\"a\",\"os\":\"linux\"}`, `{\"id\":\"d\"}`, 1)
	if s, err := ParseSchema1([]byte(bad)); err == nil {
		if _, _, err := s.Layers(); err == nil {
			t.Error("non-consecutive duplicate v1 id accepted")
		}
	}
}

func TestCacheConfigChains(t *testing.T) {
	blob := func(s string) string { return string(FromBytes([]byte(s))) }
	raw := `{"layers":[{"blob":"` + blob("a") + `","parent":-1},{"blob":"` + blob("b") + `","parent":0},{"blob":"` + blob("c") + `","parent":1},{"blob":"` + blob("d") + `","parent":0}],` +
		`"records":[{"digest":"sha256:k","layers":[{"layer":2}]}]}`
	c, err := ParseCacheConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ch, _ := c.Chain(2); len(ch) != 3 || ch[0] != 0 || ch[2] != 2 {
		t.Errorf("chain(2) = %v", ch)
	}
	if l := c.Leaves(); len(l) != 2 || l[0] != 2 || l[1] != 3 {
		t.Errorf("leaves = %v", l)
	}
	for name, bad := range map[string]string{
		"parent out of range":       `{"layers":[{"blob":"` + blob("a") + `","parent":5}]}`,
		"loop":                      `{"layers":[{"blob":"` + blob("a") + `","parent":1},{"blob":"` + blob("b") + `","parent":0}]}`,
		"absent parent is 0 (self)": `{"layers":[{"blob":"` + blob("a") + `"}]}`,
		"record out of range":       `{"layers":[{"blob":"` + blob("a") + `","parent":-1}],"records":[{"layers":[{"layer":3}]}]}`,
	} {
		if _, err := ParseCacheConfig([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLayerHistory(t *testing.T) {
	c := Config{History: []History{{CreatedBy: "a"}, {EmptyLayer: true}, {CreatedBy: "b"}, {EmptyLayer: true}}}
	got := c.LayerHistory(3)
	if got[0] != 0 || got[1] != 2 || got[2] != -1 {
		t.Fatalf("LayerHistory = %v", got)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Add(MediaTypeOCIManifest, []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}`))
	f.Add(MediaTypeSchema1Signed, []byte(`{"schemaVersion":1,"fsLayers":[],"signatures":[{"protected":"e30"}]}`))
	f.Fuzz(func(t *testing.T, mt string, raw []byte) {
		p, err := ParseManifest(mt, raw)
		if err != nil {
			return
		}
		for _, d := range p.Children() {
			if d.Digest == "" {
				t.Fatalf("child without digest accepted")
			}
		}
		if p.Schema1 != nil {
			if _, _, err := p.Schema1.Layers(); err == nil {
				p.Schema1.Schema1Config(nil)
			}
			Schema1Payload(raw)
		}
	})
}

func FuzzParseCacheConfig(f *testing.F) {
	f.Add([]byte(`{"layers":[{"blob":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","parent":-1}],"records":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseCacheConfig(raw)
		if err != nil {
			return
		}
		for i := range c.Layers {
			if _, err := c.Chain(i); err != nil {
				t.Fatalf("validated config has a bad chain: %v", err)
			}
		}
		c.Leaves()
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"rootfs":{"type":"layers","diff_ids":[]},"history":[{"empty_layer":true}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err != nil {
			return
		}
		h := c.LayerHistory(len(c.RootFS.DiffIDs))
		for _, i := range h {
			if i >= len(c.History) {
				t.Fatalf("history index %d out of range", i)
			}
		}
	})
}
