package storage

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vbatts/tar-split/tar/asm"
	tsstorage "github.com/vbatts/tar-split/tar/storage"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/source/layout"
)

const (
	maxIndexBytes  = 64 << 20 // images.json, layers.json
	maxConfigBytes = 32 << 20
)

// drivers are the graph drivers whose stores are probed, in this order.
var drivers = []string{"overlay", "vfs", "btrfs", "zfs", "aufs"}

// ErrNoStore: no containers-storage store at the place looked at.
var ErrNoStore = errors.New("no containers-storage store")

// Options configure Open.
type Options struct {
	// Root is the store's graph root ("" = the default for uid).
	Root string
	// Driver is the graph driver ("" = the first whose files exist).
	Driver string
	// Getenv and UID find the default root (nil = no environment).
	Getenv func(string) string
	UID    int
}

// SplitReference separates skopeo's optional "[driver@root+runroot]" store
// specification from the image name.
func SplitReference(ref string) (name, driver, root string, err error) {
	if !strings.HasPrefix(ref, "[") {
		return ref, "", "", nil
	}
	spec, rest, ok := strings.Cut(ref[1:], "]")
	if !ok || rest == "" {
		return "", "", "", fmt.Errorf("%w: %q: want [driver@/graph/root+/run/root]NAME", content.ErrBadReference, ref)
	}
	spec, _, _ = strings.Cut(spec, "+")
	if d, r, ok := strings.Cut(spec, "@"); ok {
		driver, root = d, r
	} else {
		root = spec
	}
	if !filepath.IsAbs(root) {
		return "", "", "", fmt.Errorf("%w: %q: the store root must be an absolute path", content.ErrBadReference, ref)
	}
	return rest, driver, root, nil
}

// DefaultRoot returns the graph root Podman uses by default for uid.
func DefaultRoot(getenv func(string) string, uid int) string {
	if uid == 0 {
		return "/var/lib/containers/storage"
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "containers", "storage")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share", "containers", "storage")
}

// storedImage is one entry of images.json.
type storedImage struct {
	ID             string                  `json:"id"`
	Names          []string                `json:"names"`
	Layer          string                  `json:"layer"`
	BigDataDigests map[string]image.Digest `json:"big-data-digests"`
}

// storedLayer is one entry of layers.json.
type storedLayer struct {
	ID         string       `json:"id"`
	Parent     string       `json:"parent"`
	DiffDigest image.Digest `json:"diff-digest"`
	DiffSize   *int64       `json:"diff-size"`
}

// Store serves one image of a containers-storage store.
type Store struct {
	root, driver string
	name         string
	manifest     []byte
	manifestD    image.Descriptor
	config       []byte
	configD      image.Descriptor
	layers       map[image.Digest]storedLayer
}

// Open finds the image named ref (a name as Podman lists it, a short name
// it expands as docker.io/library/NAME:latest or localhost/NAME:latest, or
// an image ID or unique ID prefix of 12+ hex digits) in the store.
func Open(ctx context.Context, ref string, opts Options) (*Store, error) {
	name, driver, root, err := SplitReference(ref)
	if err != nil {
		return nil, err
	}
	root = cmp.Or(root, opts.Root)
	if root == "" {
		getenv := opts.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		root = DefaultRoot(getenv, opts.UID)
	}
	driver = cmp.Or(driver, opts.Driver)
	if driver == "" {
		if driver, err = detectDriver(root); err != nil {
			return nil, err
		}
	}
	s := &Store{root: root, driver: driver}
	im, err := s.findImage(name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.build(im); err != nil {
		return nil, fmt.Errorf("containers-storage %s: image %s: %w", root, im.ID, err)
	}
	return s, nil
}

func detectDriver(root string) (string, error) {
	for _, d := range drivers {
		if _, err := os.Stat(filepath.Join(root, d+"-images", "images.json")); err == nil {
			return d, nil
		}
	}
	if _, err := os.Stat(root); err != nil {
		return "", fmt.Errorf("%w at %s: %v (name another with containers-storage:[driver@/graph/root]NAME)", ErrNoStore, root, err)
	}
	return "", fmt.Errorf("%w at %s: no <driver>-images/images.json for any of %s", ErrNoStore, root, strings.Join(drivers, ", "))
}

func readJSON(path string, limit int64, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("%w: %s exceeds %d bytes", content.ErrTooLarge, path, limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (s *Store) findImage(name string) (*storedImage, error) {
	var ims []storedImage
	if err := readJSON(filepath.Join(s.root, s.driver+"-images", "images.json"), maxIndexBytes, &ims); err != nil {
		return nil, fmt.Errorf("containers-storage %s: %w", s.root, err)
	}
	want := []string{name, layout.NormalizeName(name)}
	if !strings.ContainsAny(name, "/") {
		want = append(want, layout.NormalizeName("localhost/"+name))
	}
	var byPrefix []*storedImage
	for i := range ims {
		im := &ims[i]
		for _, n := range im.Names {
			for _, w := range want {
				if n == w {
					s.name = n
					return im, nil
				}
			}
		}
		id := strings.TrimPrefix(name, "sha256:")
		if id == im.ID || (len(id) >= 12 && strings.HasPrefix(im.ID, id)) {
			byPrefix = append(byPrefix, im)
		}
	}
	switch len(byPrefix) {
	case 1:
		s.name = byPrefix[0].ID
		return byPrefix[0], nil
	case 0:
		return nil, fmt.Errorf("%w: image %q is not in the containers-storage store at %s (%s driver); podman images lists what is there", content.ErrNotFound, name, s.root, s.driver)
	}
	return nil, fmt.Errorf("%w: %q matches %d image IDs in %s; give more digits", content.ErrAmbiguous, name, len(byPrefix), s.root)
}

// bigDataName is the file name the store gives an image's big-data key:
// the key itself when it is only [0-9a-z.], else "=" and its base64.
func bigDataName(key string) string {
	for _, c := range key {
		if c != '.' && (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return "=" + base64.StdEncoding.EncodeToString([]byte(key))
		}
	}
	return key
}

// build reads the config and the layer chain and makes up the manifest.
func (s *Store) build(im *storedImage) error {
	cfgKey := "sha256:" + im.ID
	p := filepath.Join(s.root, s.driver+"-images", im.ID, bigDataName(cfgKey))
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(cfg) > maxConfigBytes {
		return fmt.Errorf("%w: config over %d bytes", content.ErrTooLarge, maxConfigBytes)
	}
	s.config = cfg
	s.configD = image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: image.FromBytes(cfg), Size: int64(len(cfg))}
	chain, err := s.layerChain(im.Layer)
	if err != nil {
		return err
	}
	m := image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: s.configD}
	s.layers = map[image.Digest]storedLayer{}
	for _, l := range chain {
		if l.DiffSize == nil || l.DiffDigest == "" {
			return fmt.Errorf("layer %s has no recorded diff digest and size (incomplete or still being written)", l.ID)
		}
		m.Layers = append(m.Layers, image.Descriptor{MediaType: image.MediaTypeOCILayer, Digest: l.DiffDigest, Size: *l.DiffSize})
		s.layers[l.DiffDigest] = l
	}
	if s.manifest, err = json.Marshal(m); err != nil {
		return err
	}
	s.manifestD = image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: image.FromBytes(s.manifest), Size: int64(len(s.manifest)), Data: s.manifest}
	return nil
}

// layerChain returns the layers from the base to top.
func (s *Store) layerChain(top string) ([]storedLayer, error) {
	var all []storedLayer
	if err := readJSON(filepath.Join(s.root, s.driver+"-layers", "layers.json"), maxIndexBytes, &all); err != nil {
		return nil, err
	}
	byID := map[string]storedLayer{}
	for _, l := range all {
		byID[l.ID] = l
	}
	var chain []storedLayer
	for id := top; id != ""; {
		l, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("layer %s is not in layers.json", id)
		}
		if len(chain) > len(all) {
			return nil, fmt.Errorf("layer parents loop at %s", id)
		}
		chain = append(chain, l)
		id = l.Parent
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// Root returns the made-up OCI manifest.
func (s *Store) Root(context.Context) (image.Descriptor, error) { return s.manifestD, nil }

// Name returns the image's name in the store.
func (s *Store) Name() string { return "containers-storage:" + s.name }

// Close releases nothing: every Open has its own files.
func (s *Store) Close() error { return nil }

// Open returns the manifest, the config, or a layer reassembled from its
// tar-split record and its unpacked directory.
func (s *Store) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	switch d.Digest {
	case s.manifestD.Digest:
		return io.NopCloser(bytes.NewReader(s.manifest)), nil
	case s.configD.Digest:
		return io.NopCloser(bytes.NewReader(s.config)), nil
	}
	l, ok := s.layers[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%w: %s in containers-storage image %s", content.ErrNotFound, d.Digest, s.name)
	}
	ts, err := os.Open(filepath.Join(s.root, s.driver+"-layers", l.ID+".tar-split.gz"))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.ID, err)
	}
	zr, err := gzip.NewReader(ts)
	if err != nil {
		ts.Close()
		return nil, fmt.Errorf("layer %s: tar-split: %w", l.ID, err)
	}
	dir, err := s.layerDir(l.ID)
	if err != nil {
		ts.Close()
		return nil, err
	}
	out := asm.NewOutputTarStream(&rootGetter{root: dir}, tsstorage.NewJSONUnpacker(zr))
	return &layerReader{ctx: ctx, ReadCloser: out, closers: []io.Closer{dir, ts}}, nil
}

// layerDir opens a layer's unpacked files: overlay keeps the layer's own
// changes in overlay/<id>/diff, vfs a full copy in vfs/dir/<id>, btrfs and
// zfs likewise under <driver>/subvolumes|dir/<id>.
func (s *Store) layerDir(id string) (*os.Root, error) {
	var cands []string
	switch s.driver {
	case "overlay":
		cands = []string{filepath.Join(s.root, "overlay", id, "diff")}
	case "btrfs":
		cands = []string{filepath.Join(s.root, "btrfs", "subvolumes", id)}
	default:
		cands = []string{filepath.Join(s.root, s.driver, "dir", id)}
	}
	var err error
	for _, c := range cands {
		var r *os.Root
		if r, err = os.OpenRoot(c); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("layer %s: files: %w", id, err)
}

// rootGetter serves tar-split's file payloads from inside the layer
// directory only (a name that climbs out is refused by os.Root).
type rootGetter struct{ root *os.Root }

func (g *rootGetter) Get(name string) (io.ReadCloser, error) {
	name = strings.TrimPrefix(filepath.Clean("/"+name), "/")
	f, err := g.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("layer file %s: %w", name, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("layer file %s: %w", name, fs.ErrInvalid)
	}
	return f, nil
}

// layerReader is the reassembled layer; it stops when ctx ends.
type layerReader struct {
	ctx context.Context
	io.ReadCloser
	closers []io.Closer
}

func (l *layerReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	return l.ReadCloser.Read(p)
}

func (l *layerReader) Close() error {
	err := l.ReadCloser.Close()
	for _, c := range l.closers {
		c.Close()
	}
	return err
}
