package scrub

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/scan"
)

// Redacted replaces every config value scrub removes.
const Redacted = "<redacted by strata>"

// Selectors say what to remove. They combine: an entry goes when any
// selector matches it.
type Selectors struct {
	// Paths are globs over image paths ("/app/.env", "**/.env",
	// "/root/.ssh"): "*", "?" and "[...]" match within one path element,
	// "**" matches any number of elements. A match on a directory removes
	// everything under it too. They apply to every layer.
	Paths []string
	// Findings are results of a scan of the same image (scan.Finding as
	// written by `strata scan --format json`), already filtered (see
	// FilterFindings). File findings remove that file from the layer it was
	// found in; archive members ("outer.zip!inner") are removed from the
	// archive, which is rewritten; config findings redact the Env entry,
	// label or history value that holds the secret.
	Findings []scan.Finding
	// Env, Labels and BuildArgs name config values to redact, in Env and
	// Labels and wherever NAME=value appears in history created_by.
	Env, Labels, BuildArgs []string
}

func (s *Selectors) empty() bool {
	return len(s.Paths) == 0 && len(s.Findings) == 0 && len(s.Env) == 0 && len(s.Labels) == 0 && len(s.BuildArgs) == 0
}

// ReadFindings parses a `strata scan --format json` document, bounded to
// limit bytes.
func ReadFindings(r io.Reader, limit int64) ([]scan.Finding, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read findings: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: findings document exceeds %d bytes", ErrBadSelector, limit)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: findings document is not a scan JSON report: %v", ErrBadSelector, err)
	}
	raw, ok := doc["findings"]
	if !ok {
		return nil, fmt.Errorf("%w: findings document has no \"findings\" array (write it with strata scan --format json)", ErrBadSelector)
	}
	var fs []scan.Finding
	if err := json.Unmarshal(raw, &fs); err != nil {
		return nil, fmt.Errorf("%w: findings: %v", ErrBadSelector, err)
	}
	return fs, nil
}

// FilterFindings keeps the findings whose rule is in rules (when rules is
// not empty) and whose fingerprint is in fingerprints (when not empty).
func FilterFindings(fs []scan.Finding, rules, fingerprints []string) []scan.Finding {
	in := func(set []string, v string) bool {
		if len(set) == 0 {
			return true
		}
		for _, s := range set {
			if s == v {
				return true
			}
		}
		return false
	}
	var out []scan.Finding
	for _, f := range fs {
		if in(rules, f.Rule) && in(fingerprints, f.Fingerprint) {
			out = append(out, f)
		}
	}
	return out
}

// glob is one compiled path pattern.
type glob struct {
	raw   string
	parts []string
}

func compileGlobs(ps []string) ([]glob, error) {
	out := make([]glob, 0, len(ps))
	for _, p := range ps {
		c, _ := layer.CleanPath(p)
		if c == "" {
			return nil, fmt.Errorf("%w: path %q names the root; name what to remove", ErrBadSelector, p)
		}
		parts := strings.Split(c, "/")
		for _, el := range parts {
			if el == "**" {
				continue
			}
			if _, err := path.Match(el, ""); err != nil {
				return nil, fmt.Errorf("%w: path %q: %v", ErrBadSelector, p, err)
			}
		}
		out = append(out, glob{raw: p, parts: parts})
	}
	return out, nil
}

// matchParts matches path elements against pattern elements, "**"
// matching zero or more elements.
func matchParts(pat, els []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(els); i++ {
				if matchParts(pat[1:], els[i:]) {
					return true
				}
			}
			return false
		}
		if len(els) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], els[0]); !ok {
			return false
		}
		pat, els = pat[1:], els[1:]
	}
	return len(els) == 0
}

// matchGlobs returns the first glob matching p or one of its ancestors.
func matchGlobs(gs []glob, p string) (string, bool) {
	if len(gs) == 0 || p == "" {
		return "", false
	}
	els := strings.Split(p, "/")
	for n := 1; n <= len(els); n++ {
		for _, g := range gs {
			if matchParts(g.parts, els[:n]) {
				return g.raw, true
			}
		}
	}
	return "", false
}

// findingTargets sorts findings into what they ask to remove from layers
// (keyed by layer blob digest and diff_id) and from configs.
type findingTargets struct {
	files    map[image.Digest]map[string]bool     // layer -> path
	members  map[image.Digest]map[string][]string // layer -> archive path -> member paths
	config   []scan.Finding
	fps      map[string]bool
	unplaced []string
}

func sortFindings(fs []scan.Finding) findingTargets {
	t := findingTargets{files: map[image.Digest]map[string]bool{}, members: map[image.Digest]map[string][]string{}, fps: map[string]bool{}}
	for _, f := range fs {
		if f.Fingerprint != "" {
			t.fps[f.Fingerprint] = true
		}
		switch {
		case strings.HasPrefix(f.Path, "config:"):
			t.config = append(t.config, f)
		case f.Layer == nil || strings.HasPrefix(f.Path, "attestation:"):
			// Attestations of the old digest are dropped anyway.
			t.unplaced = append(t.unplaced, f.Path)
		default:
			keys := []image.Digest{f.LayerDigest, f.DiffID}
			p, _ := layer.CleanPath(f.Path)
			outer, member, isMember := strings.Cut(p, "!")
			for _, k := range keys {
				if k == "" {
					continue
				}
				if isMember {
					if t.members[k] == nil {
						t.members[k] = map[string][]string{}
					}
					t.members[k][outer] = appendUnique(t.members[k][outer], member)
				} else {
					if t.files[k] == nil {
						t.files[k] = map[string]bool{}
					}
					t.files[k][p] = true
				}
			}
		}
	}
	return t
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
