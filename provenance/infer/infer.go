package infer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/provenance"
)

// Candidate is the digest a layer gets under one profile.
type Candidate struct {
	Profile string       `json:"profile"`
	Digest  image.Digest `json:"digest"`
	Size    int64        `json:"size"`
}

// Layer is the inference for one layer.
type Layer struct {
	Index  int          `json:"index"`
	DiffID image.Digest `json:"diff_id"`
	// Stored is the blob as the local source holds it and how it is
	// compressed; a registry receiving it unchanged serves this digest.
	Stored            image.Descriptor  `json:"stored"`
	StoredCompression image.Compression `json:"storedCompression"`
	Candidates        []Candidate       `json:"candidates"`
	// Served is the digest the registry serves for this layer (--against).
	Served image.Digest `json:"served,omitempty"`
	// Match is the profile reproducing Served: a profile name, "stored"
	// when the local blob is byte-identical, or "" when none does.
	Match string `json:"match,omitempty"`
}

// ErrDiffIDMismatch: a layer's uncompressed content does not hash to the
// diff_id its config claims.
var ErrDiffIDMismatch = errors.New("layer diff_id mismatch")

// Options tune [Layers].
type Options struct {
	Profiles []Profile // nil = all
	Log      *slog.Logger
}

// Layers reads every layer of im from s once (verified against its digest
// and the config's diff_id), and compresses its tar with every profile in
// parallel, returning the resulting digests and sizes.
func Layers(ctx context.Context, s content.Store, im *image.Image, opts Options) ([]Layer, error) {
	if opts.Profiles == nil {
		opts.Profiles = Profiles()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var out []Layer
	for _, l := range im.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts.Log.Debug("recompressing layer", "layer", l.Index, "digest", l.Descriptor.Digest, "size", l.Descriptor.Size)
		x, err := layer(ctx, s, l, opts.Profiles)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

type counter struct {
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

const chunk = 256 << 10

func layer(ctx context.Context, s content.Store, l image.Layer, profiles []Profile) (Layer, error) {
	what := fmt.Sprintf("layer %d", l.Index)
	x := Layer{Index: l.Index, DiffID: l.DiffID, Stored: l.Descriptor}
	x.Stored.Annotations, x.Stored.Data = nil, nil
	rc, err := s.Open(ctx, l.Descriptor)
	if err != nil {
		return x, fmt.Errorf("open %s %s: %w", what, l.Descriptor.Digest, err)
	}
	defer rc.Close()
	v := content.Verify(rc, l.Descriptor, what)
	r, comp, closeFn, err := provenance.Decompress(v)
	if err != nil {
		return x, fmt.Errorf("%s %s: %w", what, l.Descriptor.Digest, err)
	}
	defer closeFn()
	x.StoredCompression = comp

	// One goroutine per profile, each fed the same read-only chunks.
	type sink struct {
		ch  chan []byte
		c   counter
		err error
	}
	sinks := make([]*sink, len(profiles))
	done := make(chan int, len(profiles))
	for i, p := range profiles {
		sk := &sink{ch: make(chan []byte, 4), c: counter{h: sha256.New()}}
		sinks[i] = sk
		zw, err := p.NewWriter(&sk.c)
		if err != nil {
			return x, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		go func() {
			for b := range sk.ch {
				if sk.err == nil {
					_, sk.err = zw.Write(b)
				}
			}
			if err := zw.Close(); sk.err == nil {
				sk.err = err
			}
			done <- i
		}()
	}
	closeAll := func() {
		for _, sk := range sinks {
			close(sk.ch)
		}
		for range sinks {
			<-done
		}
	}
	diff := sha256.New()
	var readErr error
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		buf := make([]byte, chunk)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			diff.Write(buf[:n])
			for _, sk := range sinks {
				sk.ch <- buf[:n]
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("%s %s: %w", what, l.Descriptor.Digest, err)
			break
		}
	}
	closeAll()
	if readErr != nil {
		return x, readErr
	}
	if _, err := io.Copy(io.Discard, v); err != nil {
		return x, err
	}
	got := image.FromSum(diff.Sum(nil))
	if x.DiffID == "" {
		x.DiffID = got
	} else if got != x.DiffID {
		return x, fmt.Errorf("%w: %s %s: uncompressed content hashes to %s, the config says %s", ErrDiffIDMismatch, what, l.Descriptor.Digest, got, x.DiffID)
	}
	for i, p := range profiles {
		if sinks[i].err != nil {
			return x, fmt.Errorf("%s: profile %s: %w", what, p.Name, sinks[i].err)
		}
		x.Candidates = append(x.Candidates, Candidate{Profile: p.Name, Digest: image.FromSum(sinks[i].c.h.Sum(nil)), Size: sinks[i].c.n})
	}
	return x, nil
}

// Against compares inferred layers with the layers a registry serves for
// the same image (same diff_ids, position by position) and fills Served and
// Match. It returns how many layers some profile (or the stored blob)
// reproduces, or an error when the served image is not the same image.
func Against(layers []Layer, served provenance.Image) (int, error) {
	if len(served.DiffIDs) != len(layers) {
		return 0, fmt.Errorf("the served image has %d layers, the local one %d: not the same image", len(served.DiffIDs), len(layers))
	}
	matched := 0
	for i := range layers {
		l := &layers[i]
		if served.DiffIDs[i] != l.DiffID {
			return 0, fmt.Errorf("layer %d: served diff_id %s differs from the local %s: not the same image", i, served.DiffIDs[i], l.DiffID)
		}
		l.Served, l.Match = served.Layers[i], ""
		if l.Served == l.Stored.Digest {
			l.Match = "stored"
		}
		for _, c := range l.Candidates {
			if c.Digest == l.Served && l.Match == "" {
				l.Match = c.Profile
			}
		}
		if l.Match != "" {
			matched++
		}
	}
	return matched, nil
}
