package image

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is the image configuration (OCI config.md / Docker image JSON),
// reduced to what strata reads.
type Config struct {
	Architecture string          `json:"architecture,omitempty"`
	OS           string          `json:"os,omitempty"`
	Variant      string          `json:"variant,omitempty"`
	Created      *time.Time      `json:"created,omitempty"`
	Author       string          `json:"author,omitempty"`
	Config       ContainerConfig `json:"config"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history,omitempty"`
}

// ContainerConfig holds the runtime defaults a config carries.
type ContainerConfig struct {
	User         string            `json:"User,omitempty"`
	Env          []string          `json:"Env,omitempty"`
	Entrypoint   []string          `json:"Entrypoint,omitempty"`
	Cmd          []string          `json:"Cmd,omitempty"`
	WorkingDir   string            `json:"WorkingDir,omitempty"`
	Labels       map[string]string `json:"Labels,omitempty"`
	ExposedPorts map[string]any    `json:"ExposedPorts,omitempty"`
	Volumes      map[string]any    `json:"Volumes,omitempty"`
	StopSignal   string            `json:"StopSignal,omitempty"`
}

// RootFS lists the uncompressed layer digests, base first.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []Digest `json:"diff_ids"`
}

// History is one build step. EmptyLayer steps made no layer.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// ParseConfig parses an image config blob.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: image config: %v", ErrMalformed, err)
	}
	for i, d := range c.RootFS.DiffIDs {
		if _, err := ParseDigest(string(d)); err != nil {
			return nil, fmt.Errorf("%w: image config diff_id %d: %v", ErrMalformed, i, err)
		}
	}
	return &c, nil
}

// LayerHistory aligns history entries to layers (FIELD-NOTES 1.3): the
// result has one entry per layer, the index into History of the step that
// made it, or -1 when the history is too short or absent. Empty-layer entries
// are skipped.
func (c *Config) LayerHistory(layers int) []int {
	out := make([]int, layers)
	for i := range out {
		out[i] = -1
	}
	li := 0
	for hi, h := range c.History {
		if h.EmptyLayer {
			continue
		}
		if li >= layers {
			break
		}
		out[li] = hi
		li++
	}
	return out
}
