package infer

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/source"
)

func served(t *testing.T, ctx context.Context, reg *registrytest.Registry, ref string) provenance.Image {
	t.Helper()
	s, err := reg.Client(t).Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := provenance.Inspect(ctx, s, provenance.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ims[0]
}

// TestInferAgainstPushes pushes one image three ways to a real registry: a
// Go gzip level 6 push as classic docker push does (compressed in the test
// with compress/gzip), a go-containerregistry push (remote.Write of
// tarball.LayerFromOpener layers), and skopeo copies (its own gzip and
// zstd); then infers from an uncompressed local copy and checks which
// profile reproduces each served manifest.
func TestInferAgainstPushes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := registrytest.NewEmbedded(t, registrytest.Options{})
	tars := [][]byte{testTar(t, "base"), testTar(t, "app")}

	// Local copy, layers uncompressed.
	dir := t.TempDir()
	var ls []fixture.Layer
	for _, tb := range tars {
		ls = append(ls, fixture.Layer{Raw: tb, Compression: "none"})
	}
	fixture.WriteLayout(t, dir, "t", fixture.Image{Layers: ls})
	s, err := source.Open(ctx, "oci:"+dir+":t", source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	im := loadOne(t, s)
	layers, err := Layers(ctx, s, im, Options{})
	if err != nil {
		t.Fatal(err)
	}

	// 1. A Go gzip level 6 push (classic docker push).
	var gz [][]byte
	for _, tb := range tars {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf) // DefaultCompression = 6, zero header
		zw.Write(tb)
		zw.Close()
		gz = append(gz, buf.Bytes())
	}
	pushWithDiffIDs(t, ctx, reg, "docker-push", "v1", gz, tars)
	checkAgainst(t, layers, served(t, ctx, reg, reg.Ref("docker-push", ":v1")), "go-gzip-6")

	// 2. go-containerregistry: remote.Write of LayerFromOpener layers.
	gimg := empty.Image
	for _, tb := range tars {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if gimg, err = mutate.AppendLayers(gimg, l); err != nil {
			t.Fatal(err)
		}
	}
	gref, err := name.ParseReference(reg.Ref("ggcr", ":v1"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(gref, gimg, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, layers, served(t, ctx, reg, reg.Ref("ggcr", ":v1")), "go-gzip-1")

	// 3. skopeo's own compressors (containers/image: pgzip, zstd) at the
	// versions Debian built skopeo with: report, do not require, a match.
	skopeo := testtool.Require(t, "skopeo")
	for _, format := range []string{"gzip", "zstd"} {
		// A registry each: skopeo reuses blobs it pushed before (its blob
		// info cache) rather than recompress.
		reg := registrytest.NewEmbedded(t, registrytest.Options{})
		args := append([]string{"--insecure-policy", "copy", "-q", "--dest-compress", "--dest-compress-format", format}, reg.SkopeoArgs(false)...)
		registrytest.Skopeo(t, ctx, skopeo, append(args, "oci:"+dir+":t", "docker://"+reg.Ref("skopeo-"+format, ":v1"))...)
		sv := served(t, ctx, reg, reg.Ref("skopeo-"+format, ":v1"))
		cp := append([]Layer(nil), layers...)
		n, err := Against(cp, sv)
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, l := range cp {
			m = append(m, fmt.Sprintf("%s=%q", l.Served.Short(), l.Match))
		}
		t.Logf("skopeo %s push: %d of %d layers reproduced %v", format, n, len(cp), m)
	}
}

func checkAgainst(t *testing.T, layers []Layer, sv provenance.Image, want string) {
	t.Helper()
	cp := append([]Layer(nil), layers...)
	n, err := Against(cp, sv)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(cp) {
		t.Errorf("%s: %d of %d layers reproduced", want, n, len(cp))
	}
	for _, l := range cp {
		if l.Match != want {
			t.Errorf("layer %d served %s: match %q, want %q", l.Index, l.Served, l.Match, want)
		}
	}
}

// pushWithDiffIDs re-pushes the manifest under tag with a config carrying
// the real diff_ids of tars (the layer blobs are already in the repository).
func pushWithDiffIDs(t *testing.T, ctx context.Context, reg *registrytest.Registry, repoName, tag string, blobs, tars [][]byte) {
	t.Helper()
	repo := reg.Repo(t, ctx, repoName)
	var diff, ls string
	for i := range blobs {
		registrytest.PushBlob(t, ctx, repo, image.MediaTypeDockerLayerGzip, blobs[i])
		if i > 0 {
			diff, ls = diff+",", ls+","
		}
		diff += fmt.Sprintf("%q", image.FromBytes(tars[i]))
		ls += fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, image.MediaTypeDockerLayerGzip, image.FromBytes(blobs[i]), len(blobs[i]))
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}`, diff))
	cd := registrytest.PushBlob(t, ctx, repo, image.MediaTypeDockerConfig, cfg)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[%s]}`,
		image.MediaTypeDockerManifest, cd.MediaType, cd.Digest, cd.Size, ls)
	registrytest.PushManifest(t, ctx, repo, tag, image.MediaTypeDockerManifest, []byte(m))
}
