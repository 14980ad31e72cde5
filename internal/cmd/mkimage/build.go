package main

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The nonroot user, as distroless images number it.
const (
	uid     = 65532
	home    = "/home/nonroot"
	binPath = "/usr/local/bin/strata"
	caPath  = "/etc/ssl/certs/ca-certificates.crt"
)

type options struct {
	Binary, Out, Tag, CABundle, Platform string
	Version, Revision                    string
	Created                              time.Time
}

// entry is one file of the image's only layer.
type entry struct {
	path string
	mode int64
	uid  int
	body []byte // nil for a directory
	src  string // file to copy instead of body
}

func (o options) entries() []entry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	return []entry{
		{path: "etc/", mode: 0o755},
		{path: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{path: "etc/group", mode: 0o644, body: []byte(group)},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: strings.TrimPrefix(caPath, "/"), mode: 0o644, src: o.CABundle},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: uid},
		{path: "tmp/", mode: 0o1777},
		{path: "usr/", mode: 0o755},
		{path: "usr/local/", mode: 0o755},
		{path: "usr/local/bin/", mode: 0o755},
		{path: strings.TrimPrefix(binPath, "/"), mode: 0o755, src: o.Binary},
	}
}

// writeLayer writes the layer tar to w, every timestamp o.Created.
func (o options) writeLayer(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, e := range o.entries() {
		h := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: o.Created, Format: tar.FormatPAX}
		if strings.HasSuffix(e.path, "/") {
			h.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Typeflag = tar.TypeReg
		var body io.Reader
		if e.src != "" {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", e.src)
			}
			h.Size, body = fi.Size(), f
		} else {
			h.Size, body = int64(len(e.body)), strings.NewReader(string(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if n, err := io.Copy(tw, body); err != nil || n != h.Size {
			return fmt.Errorf("write %s: %d of %d bytes: %v", e.path, n, h.Size, err)
		}
	}
	return tw.Close()
}

// build writes the image into the layout o.Out and returns its manifest
// digest.
func build(o options) (v1.Hash, error) {
	plat, err := v1.ParsePlatform(o.Platform)
	if err != nil {
		return v1.Hash{}, err
	}
	tmp, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(tmp)
	tarPath := filepath.Join(tmp, "layer.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := o.writeLayer(f); err != nil {
		f.Close()
		return v1.Hash{}, err
	}
	if err := f.Close(); err != nil {
		return v1.Hash{}, err
	}
	layer, err := tarball.LayerFromFile(tarPath, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "strata mkimage: " + binPath + ", /etc/passwd (nonroot), CA bundle", Comment: "ko-style static image"},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.Created = plat.OS, plat.Architecture, plat.Variant, v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{binPath},
		WorkingDir: home,
		Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caPath, "HOME=" + home},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "strata",
			"org.opencontainers.image.source":   "https://github.com/stratascan/strata",
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	if err := os.RemoveAll(o.Out); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(o.Out, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendImage(img, layout.WithPlatform(*plat), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Tag})); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}
