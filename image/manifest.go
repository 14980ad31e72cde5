package image

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnsupported reports content strata cannot interpret.
var ErrUnsupported = errors.New("unsupported content")

// ErrMalformed reports content that claims a kind but does not parse as it.
var ErrMalformed = errors.New("malformed content")

// Index is an OCI image index or Docker manifest list. BuildKit's index-form
// cache puts layer blobs and its cache config among Manifests.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest is an OCI or Docker v2 schema 2 image manifest, also used for OCI
// artifacts and BuildKit image-manifest-form caches.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Kind classifies a parsed manifest.
type Kind string

// Manifest kinds.
const (
	KindIndex       Kind = "index"
	KindImage       Kind = "image"
	KindSchema1     Kind = "schema1"
	KindCache       Kind = "buildkit-cache"
	KindAttestation Kind = "attestation"
	KindArtifact    Kind = "artifact"
)

// Parsed is one parsed manifest of any kind. Exactly one of Index, Manifest
// or Schema1 is set.
type Parsed struct {
	Kind      Kind
	MediaType string
	Index     *Index
	Manifest  *Manifest
	Schema1   *Schema1
}

const maxManifestSize = 8 << 20

// ParseManifest parses raw manifest bytes. mediaType is what the source said
// (Content-Type or a descriptor); when empty or generic the body's own
// mediaType field and shape decide.
func ParseManifest(mediaType string, raw []byte) (*Parsed, error) {
	if len(raw) > maxManifestSize {
		return nil, fmt.Errorf("%w: manifest of %d bytes exceeds the %d byte limit", ErrMalformed, len(raw), maxManifestSize)
	}
	var probe manifestShape
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("%w: manifest is not JSON: %v", ErrMalformed, err)
	}
	mt := mediaType
	if mt == "" || mt == "application/json" || mt == "application/octet-stream" || mt == "text/plain" {
		mt = probe.mediaType()
	}
	p := &Parsed{MediaType: mt}
	switch {
	case IsIndex(mt):
		var ix Index
		if err := json.Unmarshal(raw, &ix); err != nil {
			return nil, fmt.Errorf("%w: index: %v", ErrMalformed, err)
		}
		if err := checkDescriptors(ix.Manifests); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		p.Kind, p.Index = KindIndex, &ix
		for _, d := range ix.Manifests {
			if d.MediaType == MediaTypeBuildKitCache {
				p.Kind = KindCache
			}
		}
	case IsImageManifest(mt) || mt == MediaTypeOCIArtifact:
		var m Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
		}
		if mt == MediaTypeOCIArtifact && m.Layers == nil && probe.Blobs != nil {
			// OCI 1.1 release-candidate artifact manifests list "blobs".
			var a struct {
				Blobs []Descriptor `json:"blobs"`
			}
			_ = json.Unmarshal(raw, &a)
			m.Layers = a.Blobs
		}
		if m.Config.Digest != "" {
			if err := checkDescriptors([]Descriptor{m.Config}); err != nil {
				return nil, fmt.Errorf("manifest config: %w", err)
			}
		}
		if err := checkDescriptors(m.Layers); err != nil {
			return nil, fmt.Errorf("manifest layers: %w", err)
		}
		p.Manifest = &m
		switch {
		case m.Config.MediaType == MediaTypeBuildKitCache:
			p.Kind = KindCache
		case m.ArtifactType == MediaTypeDockerAttestation || allInToto(m.Layers):
			p.Kind = KindAttestation
		case m.Config.MediaType == MediaTypeOCIConfig || m.Config.MediaType == MediaTypeDockerConfig:
			p.Kind = KindImage
		default:
			p.Kind = KindArtifact
		}
	case IsSchema1(mt):
		s1, err := ParseSchema1(raw)
		if err != nil {
			return nil, err
		}
		p.Kind, p.Schema1 = KindSchema1, s1
	default:
		return nil, fmt.Errorf("%w: media type %q is not a manifest kind strata knows", ErrUnsupported, mt)
	}
	return p, nil
}

// manifestShape is the part of any manifest kind that tells which kind it is.
type manifestShape struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     json.RawMessage `json:"manifests"`
	Config        json.RawMessage `json:"config"`
	FSLayers      json.RawMessage `json:"fsLayers"`
	Blobs         json.RawMessage `json:"blobs"`
}

// mediaType is the manifest's own mediaType, or a guess from its shape:
// schema 1 and early OCI manifests carry none. "" = no manifest shape.
func (p manifestShape) mediaType() string {
	switch {
	case p.MediaType != "":
		return p.MediaType
	case p.SchemaVersion == 1 || p.FSLayers != nil:
		return MediaTypeSchema1
	case p.Manifests != nil:
		return MediaTypeOCIIndex
	case p.Config != nil:
		return MediaTypeOCIManifest
	}
	return ""
}

// SniffMediaType returns raw's media type from its mediaType field or its
// shape, "" when raw is not JSON shaped like a manifest.
func SniffMediaType(raw []byte) string {
	var p manifestShape
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	return p.mediaType()
}

func allInToto(ds []Descriptor) bool {
	if len(ds) == 0 {
		return false
	}
	for _, d := range ds {
		if d.MediaType != MediaTypeInToto {
			return false
		}
	}
	return true
}

func checkDescriptors(ds []Descriptor) error {
	for i, d := range ds {
		if _, err := ParseDigest(string(d.Digest)); err != nil {
			return fmt.Errorf("%w: descriptor %d: %v", ErrMalformed, i, err)
		}
		if d.Size < 0 {
			return fmt.Errorf("%w: descriptor %d (%s): negative size %d", ErrMalformed, i, d.Digest, d.Size)
		}
	}
	return nil
}

// Children lists the descriptors a parsed manifest references: index
// entries; config then layers; and the subject, if any.
func (p *Parsed) Children() []Descriptor {
	var out []Descriptor
	switch {
	case p.Index != nil:
		out = append(out, p.Index.Manifests...)
		if p.Index.Subject != nil {
			out = append(out, *p.Index.Subject)
		}
	case p.Manifest != nil:
		if p.Manifest.Config.Digest != "" {
			out = append(out, p.Manifest.Config)
		}
		out = append(out, p.Manifest.Layers...)
		if p.Manifest.Subject != nil {
			out = append(out, *p.Manifest.Subject)
		}
	case p.Schema1 != nil:
		for _, l := range p.Schema1.FSLayers {
			out = append(out, Descriptor{MediaType: MediaTypeDockerLayerGzip, Digest: l.BlobSum, Size: -1})
		}
	}
	return out
}
