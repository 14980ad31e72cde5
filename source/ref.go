package source

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stratascan/strata/content"
)

// Transport names, as skopeo spells them (podman and containerd are
// strata's own).
const (
	TransportRegistry      = "docker"
	TransportDockerArchive = "docker-archive"
	TransportOCI           = "oci"
	TransportOCIArchive    = "oci-archive"
	TransportDir           = "dir"
	// TransportDockerDaemon reads from a Docker Engine API (DOCKER_HOST,
	// Docker contexts); see package source/daemon.
	TransportDockerDaemon = "docker-daemon"
	// TransportPodman reads from Podman's Docker-compatible API service
	// (CONTAINER_HOST, the rootful and rootless default sockets).
	TransportPodman = "podman"
	// TransportContainerd reads blobs from containerd's content store
	// (CONTAINERD_ADDRESS; namespace from Options.ContainerdNamespace).
	TransportContainerd = "containerd"
	// TransportContainersStorage reads a local containers-storage store
	// (Podman's, Buildah's) directly; see package source/storage.
	TransportContainersStorage = "containers-storage"
	// TransportLocal is a bare argument naming an existing file or
	// directory: Open finds out which kind of image it holds. It is never
	// written as a prefix.
	TransportLocal = "local"
)

// Transports lists the transport prefixes ParseReference accepts.
var Transports = []string{
	TransportRegistry + "://", TransportDockerArchive, TransportOCI, TransportOCIArchive, TransportDir,
	TransportDockerDaemon, TransportPodman, TransportContainerd, TransportContainersStorage,
}

// Errors for references that cannot name an image.
var (
	// ErrUnknownTransport: "x:..." where x is no transport strata knows.
	ErrUnknownTransport = errors.New("unknown transport")
	// ErrNotImage: a local file or directory exists but holds no image
	// strata can read.
	ErrNotImage = errors.New("not an image")
)

// Reference is a parsed image reference.
type Reference struct {
	Transport string
	// Path is the file or directory for local transports; for registries,
	// the registry reference ("host/repo:tag", "repo@sha256:..."); for
	// engines, the image name or ID as the engine knows it.
	Path string
	// Ref selects an image inside an archive or layout (a tag, a
	// RepoTag, "@N" or a digest); empty means the only one.
	Ref string
}

func (r Reference) String() string {
	switch {
	case r.Transport == TransportRegistry:
		return "docker://" + r.Path
	case r.Transport == TransportLocal:
		return r.Path
	case r.Ref != "":
		return r.Transport + ":" + r.Path + ":" + r.Ref
	}
	return r.Transport + ":" + r.Path
}

// IsLocal reports whether the reference is read from this machine's files
// (no network, no daemon).
func (r Reference) IsLocal() bool {
	switch r.Transport {
	case TransportRegistry, TransportDockerDaemon, TransportPodman, TransportContainerd:
		return false
	}
	return true
}

// ParseReference parses skopeo-style references: docker://REF for a
// registry, docker-archive:PATH[:REF], oci:DIR[:REF], oci-archive:PATH[:REF],
// dir:DIR, docker-daemon:NAME[:TAG]|ID, podman:NAME[:TAG]|ID,
// containerd:NAME and containers-storage:[[driver@]root]NAME. The first colon after the transport separates PATH from
// REF, as in skopeo, so REF may itself hold colons
// ("docker-archive:img.tar:busybox:latest").
//
// A bare argument is, in order: an existing file or directory
// (TransportLocal, opened as whatever image it holds); a missing path when
// it looks like one ("./x", "/x", "x.tar": an error, never a registry
// lookup); a typo'd transport ("ocii:x": ErrUnknownTransport listing the
// known ones); otherwise a registry reference, when it parses as one.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("%w: empty reference", content.ErrBadReference)
	}
	if rest, ok := strings.CutPrefix(s, "docker://"); ok {
		if rest == "" {
			return Reference{}, fmt.Errorf("%w: %q names no image after docker://", content.ErrBadReference, s)
		}
		return Reference{Transport: TransportRegistry, Path: rest}, nil
	}
	tr, rest, ok := strings.Cut(s, ":")
	switch tr {
	case TransportDockerArchive, TransportOCI, TransportOCIArchive, TransportDir:
		if !ok || rest == "" {
			return Reference{}, fmt.Errorf("%w: %q: %s: needs a path, e.g. %s:./image", content.ErrBadReference, s, tr, tr)
		}
		r := Reference{Transport: tr, Path: rest}
		if tr != TransportDir {
			if p, ref, ok := strings.Cut(rest, ":"); ok {
				r.Path, r.Ref = p, ref
			}
		}
		return r, nil
	case TransportDockerDaemon, TransportPodman, TransportContainerd, TransportContainersStorage:
		if rest == "" || strings.ContainsAny(rest, " \t\n") {
			return Reference{}, fmt.Errorf("%w: %q: %s: needs an image name or ID, e.g. %s:alpine:3.20", content.ErrBadReference, s, tr, tr)
		}
		return Reference{Transport: tr, Path: rest}, nil
	case "docker":
		return Reference{}, fmt.Errorf("%w: %q: write docker://REF for a registry", content.ErrBadReference, s)
	case "sif", "ostree", "tarball":
		return Reference{}, fmt.Errorf("%w: %q: transport %s is not supported; export the image with skopeo copy to oci: or docker-archive: first", content.ErrBadReference, s, tr)
	}
	return parseBare(s)
}

// parseBare classifies an argument with no known transport prefix.
func parseBare(s string) (Reference, error) {
	if strings.ContainsAny(s, " \t\n") {
		if _, err := os.Lstat(s); err == nil {
			return Reference{Transport: TransportLocal, Path: s}, nil
		}
		return Reference{}, fmt.Errorf("%w: %q contains white space and is no existing file", content.ErrBadReference, s)
	}
	if _, err := os.Lstat(s); err == nil {
		return Reference{Transport: TransportLocal, Path: s}, nil
	}
	if looksLikePath(s) {
		return Reference{}, &wrapped{msg: s + ": no such file or directory", err: os.ErrNotExist}
	}
	if tr, rest, ok := strings.Cut(s, ":"); ok && !registryColon(tr, rest) {
		return Reference{}, unknownTransport(s, tr)
	}
	if _, err := name.ParseReference(s); err != nil {
		return Reference{}, fmt.Errorf("%w: %q is no existing file or directory and no valid registry reference: %v", content.ErrBadReference, s, err)
	}
	return Reference{Transport: TransportRegistry, Path: s}, nil
}

// looksLikePath reports arguments that can only mean a local file: relative
// or absolute paths and tarball names.
func looksLikePath(s string) bool {
	if s == "." || s == ".." || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") ||
		strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~") || strings.Contains(s, `\`) {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"} {
		if strings.HasSuffix(strings.ToLower(s), ext) {
			return true
		}
	}
	return false
}

var (
	tagRE  = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	portRE = regexp.MustCompile(`^[0-9]+(/|$)`)
)

// registryColon reports whether the first colon of a bare reference
// belongs to a registry reference: host:port/..., repo:tag or
// repo@sha256:... . A repo:tag whose repo is one edit away from a transport
// ("ocii:x") counts as a typo'd transport instead.
func registryColon(before, after string) bool {
	switch {
	case strings.ContainsAny(before, "/@"):
		return true
	case portRE.MatchString(after):
		return true
	case tagRE.MatchString(after):
		return nearTransport(before) == ""
	}
	return false
}

func unknownTransport(s, tr string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %q in %q", ErrUnknownTransport, tr, s)
	if near := nearTransport(tr); near != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", near)
	}
	fmt.Fprintf(&b, "; known transports: %s; a bare NAME[:TAG] is a registry image, and docker://%s forces one", strings.Join(Transports, ", "), s)
	return fmt.Errorf("%w: %w", content.ErrBadReference, &wrapped{msg: b.String(), err: ErrUnknownTransport})
}

// wrapped carries a message and a sentinel for errors.Is.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// nearTransport returns the transport s is a likely typo of ("" if none):
// one edit away, two for names of six letters or more, or a prefix of at
// least three letters.
func nearTransport(s string) string {
	s = strings.ToLower(s)
	names := []string{TransportDockerArchive, TransportOCIArchive, TransportOCI, TransportDir,
		TransportDockerDaemon, TransportPodman, TransportContainerd, TransportContainersStorage}
	for _, n := range names {
		d := editDistance(s, n)
		if d == 0 {
			continue
		}
		if d == 1 || (d == 2 && len(n) >= 6) || (len(s) >= 3 && strings.HasPrefix(n, s)) {
			return n
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
