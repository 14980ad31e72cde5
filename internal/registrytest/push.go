package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/registry"
)

// PushLayout copies the image (or index) tagged tag in the OCI layout at
// layoutDir to HOST/dest (dest = "repo:tag" or "repo") with real skopeo:
// `skopeo copy --all --preserve-digests oci:DIR:TAG docker://HOST/DEST`.
func PushLayout(t testing.TB, ctx context.Context, r *Registry, layoutDir, tag, dest string) {
	t.Helper()
	bin := testtool.Require(t, "skopeo")
	args := []string{"--insecure-policy", "copy", "-q", "--all", "--preserve-digests"}
	args = append(args, r.SkopeoArgs(false)...)
	args = append(args, "oci:"+layoutDir+":"+tag, "docker://"+r.Host+"/"+dest)
	Skopeo(t, ctx, bin, args...)
}

// Skopeo runs skopeo with args (bin from testtool.Require) and returns its
// stdout; the test fails with skopeo's stderr when it exits non-zero.
func Skopeo(t testing.TB, ctx context.Context, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("registrytest: skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// PullLayout copies HOST/src (repo:tag or repo@digest) with every platform
// to a new OCI layout at dir tagged tag with real skopeo; used to prove an
// image is still completely pullable.
func PullLayout(t testing.TB, ctx context.Context, r *Registry, src, dir, tag string) {
	t.Helper()
	bin := testtool.Require(t, "skopeo")
	args := []string{"--insecure-policy", "copy", "-q", "--all", "--preserve-digests"}
	args = append(args, r.SkopeoArgs(true)...)
	args = append(args, "docker://"+r.Host+"/"+src, "oci:"+dir+":"+tag)
	Skopeo(t, ctx, bin, args...)
}

// PushBlob uploads b to repo with the strata client and returns its
// descriptor (mediaType as given).
func PushBlob(t testing.TB, ctx context.Context, repo *registry.Repo, mediaType string, b []byte) image.Descriptor {
	t.Helper()
	d := image.Descriptor{MediaType: mediaType, Digest: image.FromBytes(b), Size: int64(len(b))}
	if err := repo.PutBlob(ctx, d.Digest, d.Size, bytes.NewReader(b)); err != nil {
		t.Fatalf("registrytest: push blob: %v", err)
	}
	return d
}

// PushManifest uploads raw as mediaType under tag ("" = by digest only) and
// returns its descriptor.
func PushManifest(t testing.TB, ctx context.Context, repo *registry.Repo, tag, mediaType string, raw []byte) image.Descriptor {
	t.Helper()
	dg, err := repo.PutManifest(ctx, tag, mediaType, raw)
	if err != nil {
		t.Fatalf("registrytest: push manifest %s: %v", tag, err)
	}
	return image.Descriptor{MediaType: mediaType, Digest: dg, Size: int64(len(raw))}
}

// PushImage pushes a minimal image: each layer's bytes as a blob (typed
// layerType, or OCI tar+gzip when ""; the bytes are not checked to be a
// tar), a config, and a manifest of manifestType (OCI or Docker v2) tagged
// tag. It returns the manifest descriptor and the layer descriptors. Good
// for malformed-content and purge cases; use PushLayout for realistic
// images.
func PushImage(t testing.TB, ctx context.Context, repo *registry.Repo, tag, manifestType, layerType string, layers ...[]byte) (image.Descriptor, []image.Descriptor) {
	t.Helper()
	if manifestType == "" {
		manifestType = image.MediaTypeOCIManifest
	}
	if layerType == "" {
		layerType = image.MediaTypeOCILayerGzip
		if manifestType == image.MediaTypeDockerManifest {
			layerType = image.MediaTypeDockerLayerGzip
		}
	}
	cfgType := image.MediaTypeOCIConfig
	if manifestType == image.MediaTypeDockerManifest {
		cfgType = image.MediaTypeDockerConfig
	}
	var lds []image.Descriptor
	var diffIDs []string
	for _, l := range layers {
		d := PushBlob(t, ctx, repo, layerType, l)
		lds = append(lds, d)
		diffIDs = append(diffIDs, string(d.Digest)) // a claim only; not a real diff_id unless uncompressed
	}
	if diffIDs == nil {
		diffIDs = []string{}
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		"config": map[string]any{"Labels": map[string]string{"registrytest.tag": tag}},
	})
	cd := PushBlob(t, ctx, repo, cfgType, cfg)
	if lds == nil {
		lds = []image.Descriptor{}
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifestType, "config": cd, "layers": lds})
	return PushManifest(t, ctx, repo, tag, manifestType, m), lds
}

// PushFixture pushes fixture images with the strata client (no skopeo; any
// media types, including Docker ones that skopeo 1.9 will not read from an
// OCI layout). One image: its manifest is tagged tag. Several: an index of
// them (a Docker manifest list when every image uses Docker media types,
// else an OCI index), each entry with its platform, tagged tag. tag "" pushes
// by digest only. Returns the root descriptor and the built images.
func PushFixture(t testing.TB, ctx context.Context, repo *registry.Repo, tag string, imgs ...fixture.Image) (image.Descriptor, []*fixture.Built) {
	t.Helper()
	if len(imgs) == 0 {
		t.Fatalf("registrytest: PushFixture needs at least one image")
	}
	var built []*fixture.Built
	ix := image.Index{SchemaVersion: 2, MediaType: image.MediaTypeDockerList, Manifests: []image.Descriptor{}}
	for _, img := range imgs {
		b := fixture.Build(t, img)
		built = append(built, b)
		for _, l := range b.Layers {
			PushBlob(t, ctx, repo, l.MediaType, l.Bytes)
		}
		PushBlob(t, ctx, repo, b.Config.MediaType, b.ConfigBytes)
		mtag := ""
		if len(imgs) == 1 {
			mtag = tag
		}
		PushManifest(t, ctx, repo, mtag, b.Manifest.MediaType, b.ManifestBytes)
		d := b.Manifest
		d.Platform = img.Platform()
		ix.Manifests = append(ix.Manifests, d)
		if !img.DockerMediaTypes {
			ix.MediaType = image.MediaTypeOCIIndex
		}
	}
	if len(imgs) == 1 {
		return built[0].Manifest, built
	}
	raw, err := json.Marshal(ix)
	if err != nil {
		t.Fatalf("registrytest: index: %v", err)
	}
	return PushManifest(t, ctx, repo, tag, ix.MediaType, raw), built
}

// FetchSchema1 GETs repo:tag (a Docker v2 schema 2 manifest) from a
// distribution 2.8 registry with an Accept header that lists no v2 type, so
// the registry converts it to a schema 1 manifest signed with its own key
// (distribution manifest/schema1), and returns the body and the registry's
// Docker-Content-Digest (the digest of the signed payload). Push it back
// with PushManifest(..., image.MediaTypeSchema1Signed, raw) on a registry
// started with Options.Schema1 to store a real signed schema 1 manifest.
func FetchSchema1(t testing.TB, ctx context.Context, r *Registry, repo, tag string) ([]byte, image.Digest) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", image.MediaTypeSchema1Signed)
	if r.htpasswd != "" {
		req.SetBasicAuth(r.Username, r.Password)
	}
	resp, err := (&http.Client{Transport: probeTransport(r.CAFile)}).Do(req)
	if err != nil {
		t.Fatalf("registrytest: fetch schema 1: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("registrytest: fetch schema 1 of %s:%s: %s %v\n%s", repo, tag, resp.Status, err, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != image.MediaTypeSchema1Signed {
		t.Fatalf("registrytest: %s:%s came back as %q, not a signed schema 1 manifest (only distribution 2.x converts)", repo, tag, ct)
	}
	return raw, image.Digest(resp.Header.Get("Docker-Content-Digest"))
}
