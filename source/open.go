package source

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source/archive"
	"github.com/stratascan/strata/source/layout"
)

// Options configure Open.
type Options struct {
	// Registry configures registry access (auth, TLS, retries).
	Registry registry.Options
	// Client, when set, opens registry references instead of a new client
	// built from Registry, so many references share connections and tokens.
	Client *registry.Client
	Logger *slog.Logger
}

// Open parses ref (see ParseReference) and opens the store it names.
func Open(ctx context.Context, ref string, opts Options) (content.Store, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return OpenReference(ctx, r, opts)
}

// OpenReference opens a parsed reference.
func OpenReference(ctx context.Context, r Reference, opts Options) (content.Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var s content.Store
	var err error
	switch r.Transport {
	case TransportRegistry:
		ro := opts.Registry
		if ro.Logger == nil {
			ro.Logger = log
		}
		c := opts.Client
		if c == nil {
			c, err = registry.New(ro)
		}
		if err == nil {
			s, err = c.Open(ctx, r.Path)
		}
	case TransportOCI:
		s, err = layout.OpenOCIDir(ctx, r.Path, r.Ref, layout.WithLogger(log))
	case TransportDir:
		s, err = layout.OpenDir(ctx, r.Path, layout.WithLogger(log))
	case TransportDockerArchive:
		s, err = archive.OpenDockerArchive(ctx, r.Path, r.Ref, layout.WithLogger(log))
	case TransportOCIArchive:
		s, err = archive.OpenOCIArchive(ctx, r.Path, r.Ref, layout.WithLogger(log))
	default:
		return nil, fmt.Errorf("%w: unknown transport %q", content.ErrBadReference, r.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r, err)
	}
	return s, nil
}
