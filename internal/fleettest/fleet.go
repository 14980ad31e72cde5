package fleettest

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/secret"
)

// Spec sizes a fleet.
type Spec struct {
	// Bases is the number of base images; each has two layers (a root
	// file system and a package layer) shared by every image built on it.
	Bases int
	// Images is the number of application images, spread round-robin over
	// Repos repositories and over the bases.
	Images, Repos int
	// Secrets is the number of planted secrets, each in its own image of a
	// different repository while there are repositories left. At most
	// Images.
	Secrets int
	// Seed varies every generated value (0 is a fine seed).
	Seed uint64
}

// E2E is the end-to-end test's fleet: 50 images in 10 repositories on 3
// bases with 5 planted secrets.
var E2E = Spec{Bases: 3, Images: 50, Repos: 10, Secrets: 5}

// Scale is the scale benchmark's fleet: 1,000 images in 200 repositories on
// 20 bases.
var Scale = Spec{Bases: 20, Images: 1000, Repos: 200, Secrets: 20}

// Fleet is a generated fleet.
type Fleet struct {
	Spec   Spec
	Bases  []Base
	Images []Image
	// Secrets are the planted secrets, in the order of their images.
	Secrets []Secret
}

// Base is one base image's layers (shared by the images built on it).
type Base struct {
	Name   string
	Layers []fixture.Layer
	// Blobs are the layers as built: their digests are the keys a fleet
	// scans once.
	Blobs []fixture.Blob
}

// Image is one application image.
type Image struct {
	Repo, Tag string
	Base      int
	// Secret is the index in Fleet.Secrets of the secret planted in this
	// image, -1 for none.
	Secret int
	Spec   fixture.Image
	Built  *fixture.Built
}

// Ref returns "host/repo:tag".
func (im Image) Ref(host string) string { return host + "/" + im.Repo + ":" + im.Tag }

// LayoutTag is the image's tag in the OCI layout PushSkopeo writes.
func (im Image) LayoutTag() string { return strings.ReplaceAll(im.Repo, "/", "_") + "_" + im.Tag }

// Secret is one planted secret. Value is fake: it has a provider's format
// (so strata's rule for that provider matches it) and was never issued.
type Secret struct {
	// Rule is the id of the strata rule expected to find it.
	Rule string
	// Value is the secret itself; Fingerprint is "sha256:" + hex(sha256(Value)),
	// as strata fingerprints findings.
	Value, Fingerprint string
	// Path is the file in the image's application layer; Content its body.
	Path, Content string
	// Image is the index in Fleet.Images of the image holding it.
	Image int
}

const (
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b32   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexd  = "0123456789abcdef"
)

func rnd(r *rand.Rand, n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// plant returns the k-th kind of planted secret with fresh random values:
// rule id, value, path and file content.
func plant(r *rand.Rand, k int) Secret {
	switch k % 5 {
	case 0:
		v := "AKIA" + rnd(r, 16, b32)
		return Secret{Rule: "aws-access-token", Value: v, Path: "app/config.py", Content: "AWS_KEY = '" + v + "'\n"}
	case 1:
		v := "ghp_" + rnd(r, 36, alnum)
		return Secret{Rule: "github-pat", Value: v, Path: "app/src/main.go", Content: "package main\n\nconst tok = \"" + v + "\"\n"}
	case 2:
		v := "xoxb-2614739805-3827164059213-" + rnd(r, 24, alnum)
		return Secret{Rule: "slack-bot-token", Value: v, Path: "app/bot.yaml", Content: "slack: " + v + "\n"}
	case 3:
		v := "sk_live_" + rnd(r, 24, alnum)
		return Secret{Rule: "stripe-access-token", Value: v, Path: "app/pay.js", Content: "stripe.key = \"" + v + "\";\n"}
	default:
		v := rnd(r, 8, hexd) + "-" + rnd(r, 4, hexd) + "-4" + rnd(r, 3, hexd) + "-a" + rnd(r, 3, hexd) + "-" + rnd(r, 12, hexd)
		return Secret{Rule: "npm-auth-token", Value: v, Path: "home/app/.npmrc", Content: "//registry.npmjs.org/:_authToken=" + v + "\n"}
	}
}

// Generate builds the fleet spec describes, deterministically: the same
// spec gives the same digests.
func Generate(t testing.TB, spec Spec) *Fleet {
	t.Helper()
	if spec.Bases < 1 || spec.Repos < 1 || spec.Images < spec.Repos || spec.Secrets > spec.Images {
		t.Fatalf("fleettest: bad spec %+v: need Bases >= 1, Images >= Repos >= 1, Secrets <= Images", spec)
	}
	r := rand.New(rand.NewPCG(spec.Seed, 13))
	f := &Fleet{Spec: spec}
	for b := 0; b < spec.Bases; b++ {
		f.Bases = append(f.Bases, newBase(t, r, b))
	}
	// Secret k goes to image k*(step+1): images spread over the fleet and,
	// as image i is in repository i%Repos, in distinct repositories
	// whenever step+1 and Repos are coprime (as for E2E and Scale).
	step := max(1, spec.Images/max(1, spec.Secrets))
	planted := map[int]bool{}
	for k := 0; k < spec.Secrets; k++ {
		planted[k*(step+1)%spec.Images] = true
	}
	for i := 0; i < spec.Images; i++ {
		im := Image{Repo: fmt.Sprintf("team%02d/svc%03d", i%spec.Repos%10, i%spec.Repos), Tag: fmt.Sprintf("v%d", i/spec.Repos+1),
			Base: i % spec.Bases, Secret: -1}
		var app []fixture.File
		app = append(app,
			fixture.File{Path: "app/", Type: tar.TypeDir},
			fixture.File{Path: "app/main.py", Body: fmt.Appendf(nil, "print('service %s build %d')\n", im.Repo, i)},
			fixture.File{Path: "app/VERSION", Body: fmt.Appendf(nil, "%s %s %s\n", im.Repo, im.Tag, rnd(r, 12, alnum))})
		if planted[i] {
			s := plant(r, len(f.Secrets))
			s.Fingerprint, s.Image = secret.Fingerprint(s.Value), i
			im.Secret = len(f.Secrets)
			f.Secrets = append(f.Secrets, s)
			app = append(app, fixture.File{Path: s.Path, Body: []byte(s.Content)})
		}
		base := f.Bases[im.Base]
		im.Spec = fixture.Image{
			Layers: append(append([]fixture.Layer(nil), base.Layers...), fixture.Layer{Files: dirsFor(app), CreatedBy: "COPY . /app # buildkit"}),
			Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, Cmd: []string{"python3", "/app/main.py"}, WorkingDir: "/app",
			Labels: map[string]string{"org.opencontainers.image.title": im.Repo, "org.opencontainers.image.version": im.Tag},
		}
		im.Built = fixture.Build(t, im.Spec)
		f.Images = append(f.Images, im)
	}
	if len(f.Secrets) != spec.Secrets {
		t.Fatalf("fleettest: planted %d secrets of %d: two landed on one image; choose Images/Secrets so that secrets spread", len(f.Secrets), spec.Secrets)
	}
	return f
}

// dirsFor adds the parent directories a file list needs (home/app/ for
// home/app/.npmrc) before the files, as tar writers do.
func dirsFor(files []fixture.File) []fixture.File {
	seen := map[string]bool{}
	var out []fixture.File
	for _, fl := range files {
		parts := strings.Split(strings.TrimSuffix(fl.Path, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !seen[d] {
				seen[d] = true
				out = append(out, fixture.File{Path: d, Type: tar.TypeDir})
			}
		}
		if fl.Type == tar.TypeDir {
			if seen[fl.Path] {
				continue
			}
			seen[fl.Path] = true
		}
		out = append(out, fl)
	}
	return out
}

func newBase(t testing.TB, r *rand.Rand, b int) Base {
	name := fmt.Sprintf("base%02d", b)
	root := fixture.Layer{CreatedBy: "ADD rootfs.tar / # " + name, Files: []fixture.File{
		{Path: "bin/", Type: tar.TypeDir}, {Path: "etc/", Type: tar.TypeDir}, {Path: "usr/", Type: tar.TypeDir},
		{Path: "usr/lib/", Type: tar.TypeDir}, {Path: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Path: "etc/os-release", Body: fmt.Appendf(nil, "PRETTY_NAME=\"Fleet Linux %d\"\nID=fleet\nVERSION_ID=%d\n", b, b)},
		{Path: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")},
		{Path: "bin/sh", Body: fmt.Appendf(nil, "\x7fELF\x02\x01\x01\x00fake-shell-%s\x00", rnd(r, 64, alnum)), Mode: 0o755},
		{Path: "usr/lib/libc.so.6", Body: fmt.Appendf(nil, "\x7fELF\x02\x01\x01\x00%s", rnd(r, 2048, alnum)), Mode: 0o755},
	}}
	pkgs := fixture.Layer{CreatedBy: "RUN apt-get install -y python3 # " + name, Files: []fixture.File{
		{Path: "usr/bin/", Type: tar.TypeDir},
		{Path: "usr/bin/python3", Body: fmt.Appendf(nil, "\x7fELF\x02\x01\x01\x00python-%s", rnd(r, 1024, alnum)), Mode: 0o755},
		{Path: "usr/lib/python3/", Type: tar.TypeDir},
		{Path: "usr/lib/python3/os.py", Body: []byte("import sys\n\ndef getenv(key, default=None):\n    return default\n")},
	}}
	base := Base{Name: name, Layers: []fixture.Layer{root, pkgs}}
	for _, l := range base.Layers {
		base.Blobs = append(base.Blobs, fixture.LayerBlob(t, l, false))
	}
	return base
}

// BaseLayerDigests returns the digest of every base layer: the layers
// each image shares with others, which a fleet scans once.
func (f *Fleet) BaseLayerDigests() []image.Digest {
	var ds []image.Digest
	for _, b := range f.Bases {
		for _, bl := range b.Blobs {
			ds = append(ds, bl.Digest)
		}
	}
	return ds
}

// LayerDigests returns every distinct layer digest of the fleet.
func (f *Fleet) LayerDigests() []image.Digest {
	seen := map[image.Digest]bool{}
	var ds []image.Digest
	for _, im := range f.Images {
		for _, l := range im.Built.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				ds = append(ds, l.Digest)
			}
		}
	}
	return ds
}

// Repos returns the fleet's repositories in first-use order.
func (f *Fleet) Repos() []string {
	seen := map[string]bool{}
	var rs []string
	for _, im := range f.Images {
		if !seen[im.Repo] {
			seen[im.Repo] = true
			rs = append(rs, im.Repo)
		}
	}
	return rs
}

// Slow returns an extra image (not part of the fleet's Images) whose
// application layer holds about mb MiB of text in many files, ending with
// one planted secret: scanning it takes long enough that a test can act
// while a worker holds it. The layer is zstd-compressed (fast to make).
func (f *Fleet) Slow(t testing.TB, repo, tag string, mb int) (Image, Secret) {
	t.Helper()
	r := rand.New(rand.NewPCG(f.Spec.Seed, 99))
	var lines []string
	for range 512 {
		lines = append(lines, fmt.Sprintf("%s = %s # %s\n", rnd(r, 8, alnum), rnd(r, 40, alnum+" "), rnd(r, 20, alnum+" ")))
	}
	files := []fixture.File{{Path: "srv/", Type: tar.TypeDir}, {Path: "srv/data/", Type: tar.TypeDir}}
	const per = 256 << 10
	for n := 0; n < mb<<20/per; n++ {
		var b strings.Builder
		for b.Len() < per {
			b.WriteString(lines[r.IntN(len(lines))])
		}
		files = append(files, fixture.File{Path: fmt.Sprintf("srv/data/part%04d.conf", n), Body: []byte(b.String())})
	}
	s := plant(r, 3)
	s.Fingerprint, s.Image = secret.Fingerprint(s.Value), -1
	s.Path = "srv/" + s.Path
	files = append(files, fixture.File{Path: "srv/app/", Type: tar.TypeDir}, fixture.File{Path: s.Path, Body: []byte(s.Content)})
	base := f.Bases[0]
	im := Image{Repo: repo, Tag: tag, Base: 0, Secret: -1}
	im.Spec = fixture.Image{
		Layers: append(append([]fixture.Layer(nil), base.Layers...), fixture.Layer{Files: files, Compression: "zstd", CreatedBy: "COPY data /srv # buildkit"}),
		Cmd:    []string{"/srv/run"},
	}
	im.Built = fixture.Build(t, im.Spec)
	return im, s
}
