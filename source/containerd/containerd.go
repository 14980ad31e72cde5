package containerd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/source/layout"
)

// Defaults, as ctr and the containerd client use them.
const (
	DefaultAddress   = "/run/containerd/containerd.sock"
	DefaultNamespace = "default"
	namespaceHeader  = "containerd-namespace"
	dialTimeout      = 10 * time.Second
	callTimeout      = 30 * time.Second
)

// Options configure Open.
type Options struct {
	// Address is the daemon's socket path ("" = CONTAINERD_ADDRESS, else
	// DefaultAddress; a "unix://" prefix is accepted).
	Address string
	// Namespace is the containerd namespace ("" = CONTAINERD_NAMESPACE,
	// else DefaultNamespace).
	Namespace string
	// Getenv reads the environment (nil = none: only the fields above and
	// the defaults count). os.Getenv in production.
	Getenv func(string) string
	Logger *slog.Logger
}

// ErrNoDaemon: nothing answered on the socket; wraps a *connerr.Error.
var ErrNoDaemon = errors.New("containerd not reachable")

// Store reads one image from containerd's content store.
type Store struct {
	conn      *grpc.ClientConn
	content   contentapi.ContentClient
	namespace string
	address   string
	name      string
	target    image.Descriptor
	log       *slog.Logger
}

// Open connects to containerd and resolves name (as containerd stores it,
// "docker.io/library/alpine:latest", or as Docker abbreviates it,
// "alpine"; or the digest of the image's target) in the namespace.
func Open(ctx context.Context, name string, opts Options) (*Store, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	addr := cmp.Or(opts.Address, getenv("CONTAINERD_ADDRESS"), DefaultAddress)
	addr = strings.TrimPrefix(addr, "unix://")
	ns := cmp.Or(opts.Namespace, getenv("CONTAINERD_NAMESPACE"), DefaultNamespace)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := probe(ctx, addr); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("unix://"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("localhost"),
	)
	if err != nil {
		return nil, fmt.Errorf("containerd %s: %w", addr, err)
	}
	s := &Store{conn: conn, content: contentapi.NewContentClient(conn), namespace: ns, address: addr, log: log}
	if err := s.resolve(ctx, imagesapi.NewImagesClient(conn), name); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// probe dials the socket once so that a missing socket, a refused
// connection or a permission problem is reported as such (gRPC would only
// say "unavailable").
func probe(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		ce := connerr.Classify(addr, err)
		return fmt.Errorf("%w: %w; start containerd or set CONTAINERD_ADDRESS to its socket", ErrNoDaemon, ce)
	}
	return c.Close()
}

func (s *Store) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, namespaceHeader, s.namespace)
}

// resolve finds the image's target descriptor.
func (s *Store) resolve(ctx context.Context, ic imagesapi.ImagesClient, name string) error {
	cctx, cancel := context.WithTimeout(s.ctx(ctx), callTimeout)
	defer cancel()
	var candidates []string
	for _, c := range []string{name, layout.NormalizeName(name)} {
		if len(candidates) == 0 || candidates[len(candidates)-1] != c {
			candidates = append(candidates, c)
		}
	}
	for _, c := range candidates {
		resp, err := ic.Get(cctx, &imagesapi.GetImageRequest{Name: c})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return s.wrap("get image "+c, err)
		}
		return s.setTarget(resp.GetImage())
	}
	list, err := ic.List(cctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		return s.wrap("list images", err)
	}
	var names []string
	for _, im := range list.GetImages() {
		if im.GetTarget().GetDigest() == name {
			return s.setTarget(im)
		}
		names = append(names, im.GetName())
	}
	sort.Strings(names)
	have := "it holds no images"
	if len(names) > 0 {
		have = "it holds: " + strings.Join(names, ", ")
	}
	return fmt.Errorf("%w: containerd image %q in namespace %q (tried %s); %s", content.ErrNotFound, name, s.namespace, strings.Join(candidates, ", "), have)
}

func (s *Store) setTarget(im *imagesapi.Image) error {
	t := im.GetTarget()
	d, err := image.ParseDigest(t.GetDigest())
	if err != nil {
		return fmt.Errorf("containerd image %s: target: %w", im.GetName(), err)
	}
	s.name = im.GetName()
	s.target = image.Descriptor{MediaType: t.GetMediaType(), Digest: d, Size: t.GetSize(), Annotations: t.GetAnnotations()}
	return nil
}

// wrap words a gRPC failure.
func (s *Store) wrap(what string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w: containerd %s (namespace %q): %s", content.ErrNotFound, what, s.namespace, status.Convert(err).Message())
	case codes.Unavailable:
		return fmt.Errorf("%w: %s: %s", ErrNoDaemon, s.address, status.Convert(err).Message())
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return fmt.Errorf("containerd %s: %w", what, &connerr.Error{Server: s.address, Kind: connerr.Timeout, Err: err})
	}
	return fmt.Errorf("containerd %s: %w", what, err)
}

// Root returns the image's target: a manifest or an index.
func (s *Store) Root(context.Context) (image.Descriptor, error) { return s.target, nil }

// Name returns the image name as containerd stores it.
func (s *Store) Name() string { return "containerd:" + s.name }

// Open streams the blob d from the content store.
func (s *Store) Open(ctx context.Context, d image.Descriptor) (io.ReadCloser, error) {
	cctx, cancel := context.WithCancel(s.ctx(ctx))
	rc, err := s.content.Read(cctx, &contentapi.ReadContentRequest{Digest: string(d.Digest)})
	if err != nil {
		cancel()
		return nil, s.wrap("read "+string(d.Digest), err)
	}
	r := &blobReader{s: s, stream: rc, cancel: cancel, d: d}
	// The first message tells whether the blob exists.
	if err := r.fill(); err != nil && err != io.EOF {
		cancel()
		return nil, err
	}
	return content.Bound(ctx, r, d), nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }

// blobReader turns the Read stream's messages into an io.Reader.
type blobReader struct {
	s      *Store
	stream contentapi.Content_ReadClient
	cancel context.CancelFunc
	d      image.Descriptor
	buf    []byte
	off    int64
	err    error
}

func (r *blobReader) fill() error {
	for len(r.buf) == 0 && r.err == nil {
		m, err := r.stream.Recv()
		if err == io.EOF {
			r.err = io.EOF
			break
		}
		if err != nil {
			r.err = r.s.wrap("read "+string(r.d.Digest), err)
			break
		}
		if m.GetOffset() != r.off {
			r.err = fmt.Errorf("containerd read %s: chunk at offset %d, expected %d", r.d.Digest, m.GetOffset(), r.off)
			break
		}
		r.buf = m.GetData()
		r.off += int64(len(r.buf))
	}
	if len(r.buf) > 0 {
		return nil
	}
	return r.err
}

func (r *blobReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *blobReader) Close() error {
	r.cancel()
	return nil
}
