package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stratascan/strata/content"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/internal/progress"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/containerd"
	"github.com/stratascan/strata/source/daemon"
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
	ro := registry.Options{Insecure: g.Insecure, SkipTLSVerify: g.SkipTLSVerify, CAFile: g.CAFile, Username: g.Username, Logger: g.Log,
		MaxRepos: g.MaxRepos, MaxTags: g.MaxTags, AllowCrossHostAuth: g.AllowCrossHostAuth,
		ConnectTimeout: g.RegistryTimeout, TLSHandshakeTimeout: g.RegistryTimeout, ResponseHeaderTimeout: g.RegistryTimeout, IdleBodyTimeout: 2 * g.RegistryTimeout}
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

// registryClient returns the run's registry client, built once from the
// global flags so every reference of a command shares its connections and
// tokens.
func (g *Globals) registryClient() (*registry.Client, error) {
	if g.client != nil {
		return g.client, nil
	}
	ro, err := g.registryOptions()
	if err != nil {
		return nil, err
	}
	if g.client, err = registry.New(ro); err != nil {
		return nil, err
	}
	return g.client, nil
}

func (g *Globals) sourceOptions() (source.Options, error) {
	ro, err := g.registryOptions()
	return source.Options{Registry: ro, Logger: g.Log, Engines: source.EngineOptions{
		ContainerdNamespace: g.engines.containerdNamespace,
	}}, err
}

// engineFlags are the flags of the local engine transports.
type engineFlags struct {
	containerdNamespace string
}

func addEngineFlags(pf *pflag.FlagSet, g *Globals) {
	pf.StringVar(&g.engines.containerdNamespace, "containerd-namespace", "", "containerd namespace for containerd: references (default $CONTAINERD_NAMESPACE, else \"default\")")
}

// wordErrors makes every command's error say what to do about a failed
// connection in this tool's terms (its flags); library errors only say
// what happened.
func wordErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return wordError(run(cmd, args)) }
	}
	for _, sub := range c.Commands() {
		wordErrors(sub)
	}
}

func wordError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		ee.err = wordError(ee.err)
		return err
	}
	k, ok := connerr.KindOf(err)
	if !ok || errors.Is(err, daemon.ErrNoEngine) || errors.Is(err, containerd.ErrNoDaemon) {
		return err // not a connection failure, or an engine's, which says what to start or set
	}
	hint := map[connerr.Kind]string{
		connerr.PlainHTTP: "pass --insecure to allow plain HTTP (only for a registry you trust, such as one on loopback)",
		connerr.TLS:       "pass --ca-file with the CA certificate that signed the registry's certificate, or --tls-skip-verify to accept any",
		connerr.Refused:   "check the host and port, and that the registry is running",
		connerr.DNS:       "check the host name (a bare NAME is a registry image; a local file must exist)",
		connerr.Timeout:   "the registry did not answer in time; check the network path to it, or retry",
	}[k]
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// openStore opens ref; registry references go through the run's shared
// client, local ones never build one.
func (g *Globals) openStore(ctx context.Context, ref string) (content.Store, error) {
	r, err := source.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	so, err := g.sourceOptions()
	if err != nil {
		return nil, err
	}
	if r.Transport == source.TransportRegistry {
		if so.Client, err = g.registryClient(); err != nil {
			return nil, err
		}
	}
	if r.Transport == source.TransportDockerDaemon || r.Transport == source.TransportPodman {
		bar := progress.New(g.Stderr, "export "+ref, 0, progress.Enabled(g.Stderr, g.Quiet))
		defer bar.Done()
		so.Engines.Progress = bar.Update
	}
	return source.OpenReference(ctx, r, so)
}

// openImage opens ref, loads its manifest tree and selects images by the
// --platform / --all-platforms flags.
func (g *Globals) openImage(ctx context.Context, ref string) (*opened, error) {
	return g.openImageAll(ctx, ref, g.AllPlatforms)
}

// openImageAll is openImage with the no---platform default given: all
// platforms (scan) or one (commands that read one filesystem).
func (g *Globals) openImageAll(ctx context.Context, ref string, all bool) (*opened, error) {
	var want *image.Platform
	if g.Platform != "" {
		var err error
		if want, err = image.ParsePlatform(g.Platform); err != nil {
			return nil, err
		}
	}
	s, err := g.openStore(ctx, ref)
	if err != nil {
		return nil, err
	}
	// With --platform only the entries that platform needs are fetched, so
	// an odd sibling (a broken unknown/unknown child) cannot get in the way.
	root, err := source.LoadWith(ctx, s, source.LoadOptions{Platform: want, Logger: g.Log})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("load %s: %w", ref, err)
	}
	ims, err := source.Select(root, want, all)
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
