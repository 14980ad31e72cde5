package provenance

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
)

// Status summarises a [Result].
type Status string

// Statuses of a check.
const (
	StatusOK     Status = "ok"               // on the newest approved version of a base
	StatusStale  Status = "stale"            // on an approved base, but a newer version of it is approved
	StatusNoBase Status = "no-approved-base" // no approved base is a prefix of the image's chain
	StatusError  Status = "error"            // the image could not be read
)

// Result is the check of one platform image.
type Result struct {
	Reference string       `json:"reference"`
	Digest    image.Digest `json:"digest,omitempty"`
	Index     image.Digest `json:"index,omitempty"`
	Platform  string       `json:"platform,omitempty"`
	Layers    int          `json:"layers"`
	Status    Status       `json:"status"`
	Match
	Error string `json:"error,omitempty"`
}

// CheckImage matches one image against ix.
func CheckImage(ix *Index, im Image) Result {
	r := Result{Reference: im.Reference, Digest: im.Digest, Index: im.Index, Platform: im.Platform, Layers: len(im.DiffIDs)}
	r.Match = ix.Match(im.DiffIDs, im.Platform)
	switch {
	case r.Base == nil:
		r.Status = StatusNoBase
	case r.Stale:
		r.Status = StatusStale
	default:
		r.Status = StatusOK
	}
	return r
}

// Check reads s's manifests and configs (never a layer, except schema 1
// with opts.FetchSchema1) and matches every platform image against ix.
func Check(ctx context.Context, s content.Store, ix *Index, opts InspectOptions) ([]Result, error) {
	ims, err := Inspect(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(ims))
	for _, im := range ims {
		out = append(out, CheckImage(ix, im))
	}
	return out, nil
}

// Opener opens an image reference as a content store.
type Opener func(ctx context.Context, ref string) (content.Store, error)

// CheckOptions tune [CheckAll].
type CheckOptions struct {
	// Concurrency bounds how many images are read at once (default 8).
	Concurrency int
	// Platform restricts the check to one platform of each index.
	Platform     *image.Platform
	FetchSchema1 bool
	Log          *slog.Logger
}

// CheckAll checks every reference with bounded concurrency. Failures to
// open or read an image become results with StatusError, so one broken
// image does not hide the others; only ctx cancellation stops the run.
// Results are in the order of refs, platforms in index order.
func CheckAll(ctx context.Context, refs []string, open Opener, ix *Index, opts CheckOptions) ([]Result, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	per := make([][]Result, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, ref := range refs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			per[i] = checkOne(gctx, ref, open, ix, opts)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Result
	for _, rs := range per {
		out = append(out, rs...)
	}
	return out, nil
}

func checkOne(ctx context.Context, ref string, open Opener, ix *Index, opts CheckOptions) []Result {
	fail := func(err error) []Result {
		return []Result{{Reference: ref, Status: StatusError, Error: err.Error()}}
	}
	s, err := open(ctx, ref)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	rs, err := Check(ctx, s, ix, InspectOptions{Reference: ref, Platform: opts.Platform, FetchSchema1: opts.FetchSchema1, Log: opts.Log})
	if err != nil {
		return fail(err)
	}
	return rs
}
