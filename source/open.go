package source

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source/archive"
	"github.com/stratascan/strata/source/containerd"
	"github.com/stratascan/strata/source/daemon"
	"github.com/stratascan/strata/source/layout"
	"github.com/stratascan/strata/source/storage"
)

// Options configure Open.
type Options struct {
	// Registry configures registry access (auth, TLS, retries).
	Registry registry.Options
	// Client, when set, opens registry references instead of a new client
	// built from Registry, so many references share connections and tokens.
	Client *registry.Client
	Logger *slog.Logger

	// Engines configures docker-daemon:, podman: and containerd: references.
	Engines EngineOptions
}

// EngineOptions configure the local engine transports. The zero value finds
// every engine from the environment as its own command-line tool does.
type EngineOptions struct {
	// Docker and Podman, when set, override the endpoints found by
	// daemon.DockerEndpoint and daemon.PodmanEndpoint.
	Docker, Podman *daemon.Endpoint
	// ContainerdAddress and ContainerdNamespace override
	// CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE ("" = environment, else
	// containerd's defaults).
	ContainerdAddress, ContainerdNamespace string
	// TempDir holds images exported by Docker or Podman while they are open.
	TempDir string
	// Progress, when set, reports an engine export as it arrives (bytes so
	// far, the engine's size of the image).
	Progress func(received, total int64)
	// Getenv reads the environment (nil = os.Getenv).
	Getenv func(string) string
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
	case TransportLocal:
		s, err = openLocal(ctx, r.Path, log)
	case TransportOCI:
		s, err = layout.OpenOCIDir(ctx, r.Path, r.Ref, layout.WithLogger(log))
	case TransportDir:
		s, err = layout.OpenDir(ctx, r.Path, layout.WithLogger(log))
	case TransportDockerArchive:
		s, err = archive.OpenDockerArchive(ctx, r.Path, r.Ref, layout.WithLogger(log))
	case TransportOCIArchive:
		s, err = archive.OpenOCIArchive(ctx, r.Path, r.Ref, layout.WithLogger(log))
	case TransportDockerDaemon, TransportPodman, TransportContainerd:
		s, err = openEngine(ctx, r, opts.Engines, log)
	case TransportContainersStorage:
		getenv := opts.Engines.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		s, err = storage.Open(ctx, r.Path, storage.Options{Getenv: getenv, UID: os.Getuid()})
	default:
		return nil, fmt.Errorf("%w: unknown transport %q", content.ErrBadReference, r.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r, err)
	}
	return s, nil
}

func openEngine(ctx context.Context, r Reference, eo EngineOptions, log *slog.Logger) (content.Store, error) {
	getenv := eo.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if r.Transport == TransportContainerd {
		return containerd.Open(ctx, r.Path, containerd.Options{
			Address: eo.ContainerdAddress, Namespace: eo.ContainerdNamespace, Getenv: getenv, Logger: log,
		})
	}
	do := daemon.Options{Engine: r.Transport, TempDir: eo.TempDir, Progress: eo.Progress, Logger: log}
	var err error
	switch {
	case r.Transport == TransportPodman && eo.Podman != nil:
		do.Endpoint = *eo.Podman
	case r.Transport == TransportPodman:
		do.Endpoint, err = daemon.PodmanEndpoint(getenv, os.Getuid())
	case eo.Docker != nil:
		do.Endpoint = *eo.Docker
	default:
		do.Endpoint, err = daemon.DockerEndpoint(getenv)
	}
	if err != nil {
		return nil, err
	}
	return daemon.Open(ctx, r.Path, do)
}
