package source

import (
	"fmt"
	"strings"

	"github.com/stratascan/strata/content"
)

// Transport names, as skopeo spells them.
const (
	TransportRegistry      = "docker"
	TransportDockerArchive = "docker-archive"
	TransportOCI           = "oci"
	TransportOCIArchive    = "oci-archive"
	TransportDir           = "dir"
)

// Reference is a parsed image reference.
type Reference struct {
	Transport string
	// Path is the file or directory for local transports; for registries,
	// the registry reference ("host/repo:tag", "repo@sha256:...").
	Path string
	// Ref selects an image inside an archive or layout (a tag, a
	// RepoTag, "@N" or a digest); empty means the only one.
	Ref string
}

func (r Reference) String() string {
	switch {
	case r.Transport == TransportRegistry:
		return "docker://" + r.Path
	case r.Ref != "":
		return r.Transport + ":" + r.Path + ":" + r.Ref
	}
	return r.Transport + ":" + r.Path
}

// ParseReference parses skopeo-style references: docker://REF or a bare REF
// (a registry), docker-archive:PATH[:REF], oci:DIR[:REF],
// oci-archive:PATH[:REF], dir:DIR. The first colon after the transport
// separates PATH from REF, as in skopeo, so REF may itself hold colons
// ("docker-archive:img.tar:busybox:latest").
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
	case "docker":
		return Reference{}, fmt.Errorf("%w: %q: write docker://REF for a registry", content.ErrBadReference, s)
	case "docker-daemon", "containers-storage", "sif", "ostree", "tarball":
		return Reference{}, fmt.Errorf("%w: %q: transport %s is not supported (strata reads without a daemon); export the image with skopeo copy to oci: or docker-archive: first", content.ErrBadReference, s, tr)
	}
	if strings.ContainsAny(s, " \t\n") {
		return Reference{}, fmt.Errorf("%w: %q contains white space", content.ErrBadReference, s)
	}
	return Reference{Transport: TransportRegistry, Path: s}, nil
}
