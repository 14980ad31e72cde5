package provenance

import (
	"path/filepath"
	"strings"

	"github.com/stratascan/strata/source"
)

// DefaultName derives a base's policy name from its reference: the
// repository path without registry host, tag or digest
// ("reg:5000/library/debian:12" -> "library/debian"), or a local path's
// last element ("oci:/images/debian-12:latest" -> "debian-12").
func DefaultName(ref string) string {
	r, err := source.ParseReference(ref)
	if err != nil {
		return ref
	}
	if r.Transport != source.TransportRegistry {
		return filepath.Base(strings.TrimRight(r.Path, "/"))
	}
	p := source.RepositoryOf(r.Path)
	if first, rest, ok := strings.Cut(p, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		p = rest
	}
	return p
}
