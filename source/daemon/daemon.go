package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/source/archive"
	"github.com/stratascan/strata/source/layout"
)

// Options configure Open.
type Options struct {
	// Endpoint is the API to talk to (DockerEndpoint, PodmanEndpoint).
	Endpoint Endpoint
	// Engine names the engine in messages and store names: "docker-daemon"
	// (default) or "podman".
	Engine string
	// TempDir holds the exported image while the store is open ("" =
	// os.TempDir()).
	TempDir string
	// MaxBytes caps the export (0 = twice the image's size as the engine
	// reports it, plus 256 MiB).
	MaxBytes int64
	// Progress, when set, is called as the export arrives with the bytes
	// received so far and the expected total (the engine's image size; the
	// tarball is slightly larger).
	Progress func(received, total int64)
	Logger   *slog.Logger
}

// responseTimeout bounds the wait for an answer's headers.
const responseTimeout = 10 * time.Minute

// ErrNoEngine: nothing answered at the endpoint; wraps a *connerr.Error.
var ErrNoEngine = errors.New("engine not reachable")

// Open exports the image named ref (NAME[:TAG], NAME@DIGEST or an ID) from
// the engine into a temporary file and returns a store over it. Close the
// store to remove the file.
func Open(ctx context.Context, ref string, opts Options) (content.Store, error) {
	if opts.Engine == "" {
		opts.Engine = "docker-daemon"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, dialErr, err := newClient(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	e := &export{c: c, dialErr: dialErr, opts: opts, ref: ref}
	insp, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, e.wrap(err)
	}
	size := insp.Size
	log.Debug("exporting image from engine", "engine", opts.Engine, "host", opts.Endpoint.Host, "ref", ref, "id", insp.ID, "size", size)
	path, err := e.save(ctx, size)
	if err != nil {
		return nil, err
	}
	s, err := archive.OpenDockerArchive(ctx, path, "", layout.WithLogger(log))
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%s %s: read the exported image: %w", opts.Engine, ref, err)
	}
	return &store{Store: s, path: path, name: opts.Engine + ":" + ref}, nil
}

// newClient builds an Engine API client for ep and returns, beside it, a
// function giving the last dial error (the client replaces dial errors by
// a fixed sentence; the cause is kept here for connerr).
func newClient(ep Endpoint) (*client.Client, func() error, error) {
	// Podman writes the whole export before it answers; Docker streams. A
	// daemon that says nothing for this long is stuck.
	tr := &http.Transport{ResponseHeaderTimeout: responseTimeout}
	scheme := "http"
	if ep.TLS || ep.CAFile != "" || ep.CertFile != "" {
		cfg, err := tlsConfig(ep)
		if err != nil {
			return nil, nil, err
		}
		tr.TLSClientConfig, scheme = cfg, "https"
	}
	var mu sync.Mutex
	var last error
	sock, isUnix := strings.CutPrefix(ep.Host, "unix://")
	d := &net.Dialer{Timeout: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if isUnix {
			network, addr = "unix", sock
		}
		conn, err := d.DialContext(ctx, network, addr)
		mu.Lock()
		last = err
		mu.Unlock()
		return conn, err
	}
	hc := &http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}
	c, err := client.New(client.WithHTTPClient(hc), client.WithHost(ep.Host), client.WithScheme(scheme),
		client.WithDialContext(dial), client.WithUserAgent("strata"))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s (from %s): %v", ErrEndpoint, ep.Host, ep.From, err)
	}
	return c, func() error { mu.Lock(); defer mu.Unlock(); return last }, nil
}

func tlsConfig(ep Endpoint) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: ep.SkipVerify} //nolint:gosec // the user's DOCKER_TLS_VERIFY / context choice
	if ep.CAFile != "" {
		pem, err := os.ReadFile(ep.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA %s: %v", ErrEndpoint, ep.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrEndpoint, ep.CAFile)
		}
		cfg.RootCAs = pool
	}
	if ep.CertFile != "" && ep.KeyFile != "" {
		kp, err := tls.LoadX509KeyPair(ep.CertFile, ep.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %s: %v", ErrEndpoint, ep.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// export is one Open call's state.
type export struct {
	c       *client.Client
	dialErr func() error
	opts    Options
	ref     string
}

// wrap words an API error: not found, or a connection failure classified
// from the dial error the client hid.
func (e *export) wrap(err error) error {
	ep := e.opts.Endpoint
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %s: image %q is not in the engine at %s: %v", content.ErrNotFound, e.opts.Engine, e.ref, ep.Host, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	cause := err
	if d := e.dialErr(); d != nil {
		cause = d
	}
	if k, ok := connerr.KindOf(cause); ok || client.IsErrConnectionFailed(err) {
		where := fmt.Sprintf("%s (from %s)", ep.Host, ep.From)
		ce := &connerr.Error{Server: where, Kind: k, Err: cause}
		return fmt.Errorf("%w: %s: %w; %s", ErrNoEngine, e.opts.Engine, ce, e.hint())
	}
	return fmt.Errorf("%s %s at %s: %w", e.opts.Engine, e.ref, ep.Host, err)
}

func (e *export) hint() string {
	if e.opts.Engine == "podman" {
		return "start the service (podman system service --time=0) or set CONTAINER_HOST"
	}
	return "start the Docker daemon, or set DOCKER_HOST or DOCKER_CONTEXT"
}

// save streams the export into a temporary file and returns its path.
func (e *export) save(ctx context.Context, size int64) (path string, err error) {
	limit := e.opts.MaxBytes
	if limit <= 0 {
		limit = 2*max(size, 0) + 256<<20
	}
	rc, err := e.c.ImageSave(ctx, []string{e.ref})
	if err != nil {
		return "", e.wrap(err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(e.opts.TempDir, "strata-"+e.opts.Engine+"-*.tar")
	if err != nil {
		return "", fmt.Errorf("%s %s: temporary file: %w", e.opts.Engine, e.ref, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	pr := &progressReader{ctx: ctx, r: io.LimitReader(rc, limit+1), fn: e.opts.Progress, total: size}
	n, err := io.Copy(f, pr)
	if err != nil {
		return "", fmt.Errorf("%s %s: export: %w", e.opts.Engine, e.ref, err)
	}
	if n > limit {
		return "", fmt.Errorf("%w: %s %s: the export exceeds %d bytes (the engine reports %d)", content.ErrTooLarge, e.opts.Engine, e.ref, limit, size)
	}
	return f.Name(), nil
}

type progressReader struct {
	ctx   context.Context
	r     io.Reader
	fn    func(int64, int64)
	n     int64
	total int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.n, p.total)
	}
	return n, err
}

// store is the docker-archive store over the exported file; Close also
// removes the file.
type store struct {
	content.Store
	path string
	name string
}

func (s *store) Name() string { return s.name }

func (s *store) Close() error {
	err := s.Store.Close()
	if rerr := os.Remove(s.path); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}
