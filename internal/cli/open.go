package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/internal/progress"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/content"
)

// opened is an image reference opened, loaded and narrowed to the
// platforms the user asked for.
type opened struct {
	ref    string
	store  content.Store
	root   *image.Node
	images []*image.Image
}

func (o *opened) Close() error { return o.store.Close() }

// registryOptions turns the global flags into registry options, reading
// the password from stdin once when --password-stdin is set.
func (g *Globals) registryOptions() (registry.Options, error) {
	ro := registry.Options{Insecure: g.Insecure, SkipTLSVerify: g.SkipTLSVerify, CAFile: g.CAFile, Username: g.Username, Logger: g.Log}
	if g.PasswordStdin {
		if g.password == "" {
			b, err := io.ReadAll(io.LimitReader(g.Stdin, 1<<20))
			if err != nil {
				return ro, fmt.Errorf("read password from stdin: %w", err)
			}
			g.password = strings.TrimRight(string(b), "\r\n")
		}
		if g.Username == "" {
			return ro, fmt.Errorf("--password-stdin needs --username")
		}
		ro.Password = g.password
	}
	return ro, nil
}

// registryClient builds a registry client from the global flags.
func (g *Globals) registryClient() (*registry.Client, error) {
	ro, err := g.registryOptions()
	if err != nil {
		return nil, err
	}
	return registry.New(ro)
}

func (g *Globals) sourceOptions() (source.Options, error) {
	ro, err := g.registryOptions()
	return source.Options{Registry: ro, Logger: g.Log}, err
}

// openImage opens ref, loads its manifest tree and selects images by the
// --platform / --all-platforms flags.
func (g *Globals) openImage(ctx context.Context, ref string) (*opened, error) {
	so, err := g.sourceOptions()
	if err != nil {
		return nil, err
	}
	s, err := source.Open(ctx, ref, so)
	if err != nil {
		return nil, err
	}
	root, err := source.Load(ctx, s, g.Log)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("load %s: %w", ref, err)
	}
	var want *image.Platform
	if g.Platform != "" {
		if want, err = image.ParsePlatform(g.Platform); err != nil {
			s.Close()
			return nil, err
		}
	}
	ims, err := source.Select(root, want, g.AllPlatforms)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return &opened{ref: ref, store: s, root: root, images: ims}, nil
}

// walkOptions returns layer-walk options with a progress bar over im's
// compressed size; call done when the walk ends.
func (g *Globals) walkOptions(label string, im *image.Image) (inspect.Options, func()) {
	var total int64
	for _, l := range im.Layers {
		if l.Descriptor.Size > 0 {
			total += l.Descriptor.Size
		}
	}
	bar := progress.New(g.Stderr, label, total, progress.Enabled(g.Stderr, g.Quiet))
	return inspect.Options{Logger: g.Log, Progress: bar.Set}, bar.Done
}

// single insists on one image (for commands that read one filesystem).
func (o *opened) single() (*image.Image, error) {
	if len(o.images) != 1 {
		return nil, fmt.Errorf("%s: %d images selected; this command reads one filesystem: pass --platform os/arch", o.ref, len(o.images))
	}
	return o.images[0], nil
}
