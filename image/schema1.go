package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Schema1 is a Docker v2 schema 1 manifest, signed or unsigned
// (FIELD-NOTES 1.9). FSLayers and History are newest first.
type Schema1 struct {
	SchemaVersion int    `json:"schemaVersion"`
	Name          string `json:"name"`
	Tag           string `json:"tag"`
	Architecture  string `json:"architecture"`
	FSLayers      []struct {
		BlobSum Digest `json:"blobSum"`
	} `json:"fsLayers"`
	History []struct {
		V1Compatibility string `json:"v1Compatibility"`
	} `json:"history"`
}

// V1Compat is the part of a schema 1 history entry strata reads.
type V1Compat struct {
	ID              string           `json:"id"`
	Parent          string           `json:"parent,omitempty"`
	Created         *time.Time       `json:"created,omitempty"`
	Author          string           `json:"author,omitempty"`
	Comment         string           `json:"comment,omitempty"`
	Throwaway       bool             `json:"throwaway,omitempty"`
	OS              string           `json:"os,omitempty"`
	Architecture    string           `json:"architecture,omitempty"`
	Config          *ContainerConfig `json:"config,omitempty"`
	ContainerConfig struct {
		Cmd []string `json:"Cmd,omitempty"`
	} `json:"container_config"`
}

// Schema1Layer is one layer of a schema 1 manifest, base first, throwaway
// entries removed.
type Schema1Layer struct {
	BlobSum Digest
	History History
}

// ParseSchema1 parses and validates a schema 1 manifest.
func ParseSchema1(raw []byte) (*Schema1, error) {
	var m Schema1
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: schema 1 manifest: %v", ErrMalformed, err)
	}
	if m.SchemaVersion != 1 {
		return nil, fmt.Errorf("%w: schema 1 manifest has schemaVersion %d", ErrMalformed, m.SchemaVersion)
	}
	if len(m.FSLayers) == 0 || len(m.FSLayers) != len(m.History) {
		return nil, fmt.Errorf("%w: schema 1 manifest has %d fsLayers and %d history entries (need equal and non-zero)",
			ErrMalformed, len(m.FSLayers), len(m.History))
	}
	for i, l := range m.FSLayers {
		if _, err := ParseDigest(string(l.BlobSum)); err != nil {
			return nil, fmt.Errorf("%w: schema 1 fsLayers[%d]: %v", ErrMalformed, i, err)
		}
	}
	return &m, nil
}

// Layers returns the schema 1 layers base first, dropping throwaway entries
// and consecutive duplicate v1 ids as the Docker engine did (moby
// fixManifestLayers), and the full history base first for config
// reconstruction.
func (m *Schema1) Layers() ([]Schema1Layer, []History, error) {
	var layers []Schema1Layer
	var hist []History
	seen := map[string]int{}
	prevID := ""
	for i := len(m.FSLayers) - 1; i >= 0; i-- {
		var v V1Compat
		if err := json.Unmarshal([]byte(m.History[i].V1Compatibility), &v); err != nil {
			return nil, nil, fmt.Errorf("%w: schema 1 history[%d].v1Compatibility: %v", ErrMalformed, i, err)
		}
		if v.ID != "" && v.ID == prevID {
			continue // consecutive duplicate
		}
		if j, dup := seen[v.ID]; dup && v.ID != "" {
			return nil, nil, fmt.Errorf("%w: schema 1 v1 id %s repeats non-consecutively (entries %d and %d)", ErrMalformed, v.ID, j, i)
		}
		seen[v.ID], prevID = i, v.ID
		h := History{Created: v.Created, Author: v.Author, Comment: v.Comment, EmptyLayer: v.Throwaway}
		h.CreatedBy = joinCmd(v.ContainerConfig.Cmd)
		hist = append(hist, h)
		if v.Throwaway {
			continue
		}
		layers = append(layers, Schema1Layer{BlobSum: m.FSLayers[i].BlobSum, History: h})
	}
	return layers, hist, nil
}

// Schema1Config synthesizes an image config from the newest v1Compatibility
// entry and the history. diffIDs are only known after the layers have been
// decompressed; pass nil when they are not.
func (m *Schema1) Schema1Config(diffIDs []Digest) (*Config, error) {
	_, hist, err := m.Layers()
	if err != nil {
		return nil, err
	}
	var top V1Compat
	if err := json.Unmarshal([]byte(m.History[0].V1Compatibility), &top); err != nil {
		return nil, fmt.Errorf("%w: schema 1 history[0]: %v", ErrMalformed, err)
	}
	c := &Config{Architecture: m.Architecture, OS: top.OS, Created: top.Created, Author: top.Author, History: hist}
	if c.Architecture == "" {
		c.Architecture = top.Architecture
	}
	if top.Config != nil {
		c.Config = *top.Config
	}
	c.RootFS = RootFS{Type: "layers", DiffIDs: diffIDs}
	return c, nil
}

// Schema1Payload returns the signed payload of a signed schema 1 manifest:
// the bytes its digest is computed over (signatures stripped; FIELD-NOTES
// 1.9). Unsigned manifests are returned unchanged.
func Schema1Payload(raw []byte) ([]byte, error) {
	var env struct {
		Signatures []struct {
			Protected string `json:"protected"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Signatures) == 0 {
		return raw, nil
	}
	var prot struct {
		FormatLength int    `json:"formatLength"`
		FormatTail   string `json:"formatTail"`
	}
	b, err := decodeB64URL(env.Signatures[0].Protected)
	if err != nil {
		return nil, fmt.Errorf("%w: schema 1 signature header: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(b, &prot); err != nil {
		return nil, fmt.Errorf("%w: schema 1 protected header: %v", ErrMalformed, err)
	}
	tail, err := decodeB64URL(prot.FormatTail)
	if err != nil {
		return nil, fmt.Errorf("%w: schema 1 formatTail: %v", ErrMalformed, err)
	}
	if prot.FormatLength < 0 || prot.FormatLength > len(raw) {
		return nil, fmt.Errorf("%w: schema 1 formatLength %d out of range", ErrMalformed, prot.FormatLength)
	}
	var buf bytes.Buffer
	buf.Write(raw[:prot.FormatLength])
	buf.Write(tail)
	return buf.Bytes(), nil
}

func joinCmd(cmd []string) string {
	var b bytes.Buffer
	for i, c := range cmd {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c)
	}
	return b.String()
}
