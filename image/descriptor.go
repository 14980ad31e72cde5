package image

import (
	"fmt"
	"strings"
)

// Descriptor points at content by digest (OCI image-spec descriptor.md).
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       Digest            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

// Platform is an index entry's platform.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// String formats p as os/arch[/variant].
func (p *Platform) String() string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (*Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64/v8", s)
	}
	p := &Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Matches reports whether p satisfies the wanted platform w. An empty variant
// in w matches any variant.
func (p *Platform) Matches(w *Platform) bool {
	if p == nil || w == nil {
		return p == w
	}
	return p.OS == w.OS && p.Architecture == w.Architecture && (w.Variant == "" || p.Variant == w.Variant)
}

// Annotations strata reads.
const (
	AnnotationRefName           = "org.opencontainers.image.ref.name"
	AnnotationContainerdName    = "io.containerd.image.name"
	AnnotationReferenceType     = "vnd.docker.reference.type"
	AnnotationReferenceDigest   = "vnd.docker.reference.digest"
	AnnotationUncompressed      = "containerd.io/uncompressed"
	ReferenceTypeAttestation    = "attestation-manifest"
	AnnotationBaseName          = "org.opencontainers.image.base.name"
	AnnotationBaseDigest        = "org.opencontainers.image.base.digest"
	AnnotationBuildKitCreatedAt = "buildkit/createdat"
)

// IsAttestation reports whether an index entry is a BuildKit attestation manifest.
func (d Descriptor) IsAttestation() bool {
	return d.Annotations[AnnotationReferenceType] == ReferenceTypeAttestation ||
		d.ArtifactType == MediaTypeDockerAttestation
}
