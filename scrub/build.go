package scrub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// stage holds the blobs a plan made: rewritten layers as files, configs,
// manifests and the index in memory. It serves them, and everything else
// from the source, as a content.Store rooted at the new root.
type stage struct {
	dir   string
	src   content.Store
	files map[image.Digest]string
	blobs map[image.Digest][]byte
	root  image.Descriptor
}

func newStage(dir string, src content.Store) *stage {
	return &stage{dir: dir, src: src, files: map[image.Digest]string{}, blobs: map[image.Digest][]byte{}}
}

func (s *stage) put(mediaType string, b []byte) image.Descriptor {
	d := image.Descriptor{MediaType: mediaType, Digest: image.FromBytes(b), Size: int64(len(b))}
	s.blobs[d.Digest] = b
	return d
}

// Root implements content.Store.
func (s *stage) Root(context.Context) (image.Descriptor, error) { return s.root, nil }

// Open implements content.Store.
func (s *stage) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	if b, ok := s.blobs[d.Digest]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if p, ok := s.files[d.Digest]; ok {
		// The read-back ran on the bytes as they were written; whoever
		// reads the staged file gets its digest checked at the end.
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{content.Verify(f, d, "staged layer"), f}, nil
	}
	return s.src.Open(ctx, d)
}

// Close implements content.Store; the plan owns the stage.
func (s *stage) Close() error { return nil }

// staged reports whether the plan made d (as opposed to reusing it).
func (s *stage) staged(d image.Digest) bool {
	_, a := s.blobs[d]
	_, b := s.files[d]
	return a || b
}

// configAndManifest writes the new config and manifest of one image.
func (pl *planner) configAndManifest(ctx context.Context, n *image.Node, ip *ImagePlan, diffIDs []image.Digest) error {
	im := n.Image
	cfgRaw, err := content.ReadAll(ctx, pl.src, im.ConfigRef, "config", 16<<20)
	if err != nil {
		return err
	}
	removed := 0
	seen := map[string]bool{}
	for _, lp := range ip.Layers {
		for _, r := range lp.Removed {
			if r.Reason != ReasonWhiteout && !seen[r.Path] {
				seen[r.Path] = true
				removed++
			}
		}
		for _, m := range lp.Members {
			removed += len(m.Members)
		}
	}
	docker := n.Descriptor.MediaType == image.MediaTypeDockerManifest
	newCfg, changes, err := rewriteConfig(ctx, cfgRaw, diffIDs, &pl.opts.Selectors, pl.ft.config, pl.opts.Engine)
	if err != nil {
		return err
	}
	ip.ConfigChanges = changes
	rewrote := false
	for _, lp := range ip.Layers {
		rewrote = rewrote || lp.Action == ActionRewritten
	}
	if !rewrote && len(changes) == 0 {
		ip.NewManifest, ip.NewConfig = ip.OldManifest, ip.OldConfig
		return nil
	}
	notes := map[string]string{
		AnnotationRemovedPaths:   itoa(removed),
		AnnotationRedactedFields: itoa(len(changes)),
		AnnotationScrubbedFrom:   string(n.Descriptor.Digest),
	}
	if docker {
		// Docker manifests have no annotations: record the scrub as labels.
		if newCfg, err = addLabels(newCfg, notes); err != nil {
			return err
		}
	}
	cd := pl.plan.stage.put(im.ConfigRef.MediaType, newCfg)
	ip.NewConfig = cd.Digest
	raw, err := rewriteManifest(n.Raw, cd, ip.Layers, notes, !docker)
	if err != nil {
		return err
	}
	md := pl.plan.stage.put(n.Descriptor.MediaType, raw)
	md.Platform, md.Annotations, md.ArtifactType = n.Descriptor.Platform, n.Descriptor.Annotations, n.Descriptor.ArtifactType
	ip.NewManifest = md
	return nil
}

func addLabels(cfg []byte, labels map[string]string) ([]byte, error) {
	o, err := parseObject(cfg, "image config")
	if err != nil {
		return nil, err
	}
	var c object
	if err := o.get("config", &c); err != nil {
		return nil, err
	}
	if c == nil {
		c = object{}
	}
	var ls map[string]string
	if err := c.get("Labels", &ls); err != nil {
		return nil, err
	}
	if ls == nil {
		ls = map[string]string{}
	}
	for k, v := range labels {
		ls[k] = v
	}
	if err := c.set("Labels", ls); err != nil {
		return nil, err
	}
	if err := o.set("config", c); err != nil {
		return nil, err
	}
	return marshal(o)
}

// rewriteManifest points a manifest at the new config and layers; other
// fields (subject, annotations such as org.opencontainers.image.base.*)
// are kept.
func rewriteManifest(raw []byte, cfg image.Descriptor, layers []LayerPlan, notes map[string]string, annotate bool) ([]byte, error) {
	o, err := parseObject(raw, "manifest")
	if err != nil {
		return nil, err
	}
	var c object
	if err := o.get("config", &c); err != nil || c == nil {
		return nil, fmt.Errorf("%w: manifest has no config", ErrUnsupported)
	}
	if err := setDescriptor(c, cfg); err != nil {
		return nil, err
	}
	if err := o.set("config", c); err != nil {
		return nil, err
	}
	var ls []object
	if err := o.get("layers", &ls); err != nil || len(ls) != len(layers) {
		return nil, fmt.Errorf("%w: manifest layers do not match the image's", ErrUnsupported)
	}
	for i, lp := range layers {
		if lp.Action != ActionRewritten {
			continue
		}
		if err := setDescriptor(ls[i], lp.New); err != nil {
			return nil, err
		}
		var ann map[string]string
		if err := ls[i].get("annotations", &ann); err != nil {
			return nil, err
		}
		if _, ok := ann[image.AnnotationUncompressed]; ok {
			ann[image.AnnotationUncompressed] = string(lp.NewDiffID)
			if err := ls[i].set("annotations", ann); err != nil {
				return nil, err
			}
		}
	}
	if err := o.set("layers", ls); err != nil {
		return nil, err
	}
	if annotate {
		if err := annotateObject(o, notes); err != nil {
			return nil, err
		}
	}
	return marshal(o)
}

func setDescriptor(o object, d image.Descriptor) error {
	if err := o.set("digest", d.Digest); err != nil {
		return err
	}
	delete(o, "data")
	return o.set("size", d.Size)
}

func annotateObject(o object, notes map[string]string) error {
	var ann map[string]string
	if err := o.get("annotations", &ann); err != nil {
		return err
	}
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range notes {
		ann[k] = v
	}
	return o.set("annotations", ann)
}

// index rebuilds the root index: scrubbed manifests replace the old ones,
// attestations of old digests are dropped, other entries are kept.
func (pl *planner) index(root *image.Node, newDescs map[image.Digest]image.Descriptor) error {
	o, err := parseObject(root.Raw, "index")
	if err != nil {
		return err
	}
	var ms []object
	if err := o.get("manifests", &ms); err != nil {
		return fmt.Errorf("%w: index manifests: %v", ErrUnsupported, err)
	}
	var kept []object
	for i, m := range ms {
		c := root.Children[i]
		if c.Image != nil && c.Image.Kind == image.KindAttestation {
			if nd, ok := newDescs[c.Image.AttestationFor]; ok && nd.Digest != c.Image.AttestationFor {
				pl.plan.Dropped = append(pl.plan.Dropped, Dropped{Digest: c.Descriptor.Digest, Kind: "attestation", For: c.Image.AttestationFor})
				continue
			}
		}
		if nd, ok := newDescs[c.Descriptor.Digest]; ok && nd.Digest != c.Descriptor.Digest {
			if err := setDescriptor(m, nd); err != nil {
				return err
			}
		}
		kept = append(kept, m)
	}
	if err := o.set("manifests", kept); err != nil {
		return err
	}
	notes := map[string]string{
		AnnotationRemovedPaths:   itoa(pl.plan.RemovedPaths),
		AnnotationRedactedFields: itoa(pl.plan.RedactedFields),
		AnnotationScrubbedFrom:   string(root.Descriptor.Digest),
	}
	if root.Descriptor.MediaType != image.MediaTypeDockerList {
		if err := annotateObject(o, notes); err != nil {
			return err
		}
	}
	raw, err := marshal(o)
	if err != nil {
		return err
	}
	pl.plan.NewRoot = pl.plan.stage.put(root.Descriptor.MediaType, raw)
	pl.plan.NewRoot.Annotations = root.Descriptor.Annotations
	return nil
}
