package secret

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// ignoreList suppresses findings by fingerprint, rule ID or path glob.
type ignoreList struct {
	fingerprints map[string]bool
	rules        map[string]bool
	globs        []string
	text         string // canonical form, part of the ruleset hash
}

// parseIgnore reads an ignore file: one entry a line, "#" starts a comment.
//
//	fingerprint:sha256:<hex>   (a bare sha256:<hex> works too)
//	rule:<rule-id>
//	path:<glob>                ("**" matches any number of path segments)
func parseIgnore(r io.Reader, name string) (*ignoreList, error) {
	il := &ignoreList{fingerprints: map[string]bool{}, rules: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var canon []string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, val, ok := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		switch {
		case ok && kind == "fingerprint" && strings.HasPrefix(val, "sha256:") && isHex64(val[7:]):
			il.fingerprints[strings.ToLower(val)] = true
		case ok && kind == "sha256" && isHex64(val):
			il.fingerprints["sha256:"+strings.ToLower(val)] = true
		case ok && kind == "rule" && val != "":
			il.rules[val] = true
		case ok && kind == "path" && val != "":
			g := strings.TrimPrefix(val, "/")
			if _, err := path.Match(strings.ReplaceAll(g, "**", "*"), ""); err != nil {
				return nil, fmt.Errorf("%w: ignore file %s line %d: bad glob %q: %v", ErrBadRules, name, n, val, err)
			}
			il.globs = append(il.globs, g)
		default:
			return nil, fmt.Errorf("%w: ignore file %s line %d: %q is not fingerprint:sha256:<64 hex>, rule:<id> or path:<glob>", ErrBadRules, name, n, line)
		}
		canon = append(canon, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ignore file %s: %w", name, err)
	}
	il.text = strings.Join(canon, "\n")
	return il, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ignored reports whether m is suppressed.
func (il *ignoreList) ignored(m *Match) bool {
	if il == nil {
		return false
	}
	if il.fingerprints[m.Fingerprint] || il.rules[m.RuleID] {
		return true
	}
	if len(il.globs) == 0 {
		return false
	}
	p := strings.TrimPrefix(m.Path, "/")
	// An archive member matches if the member path or any enclosing archive does.
	cands := []string{p}
	for i := 0; i < len(p); i++ {
		if p[i] == '!' {
			cands = append(cands, p[:i])
		}
	}
	for _, g := range il.globs {
		for _, c := range cands {
			if globMatch(g, c) {
				return true
			}
		}
	}
	return false
}

// globMatch matches name against a slash-separated glob where each segment
// follows path.Match and a "**" segment matches zero or more segments.
func globMatch(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
