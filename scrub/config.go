package scrub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
)

// ConfigChange is one config value scrub redacted. It names the field,
// never the value.
type ConfigChange struct {
	Field  string `json:"field"`  // "Env[TOKEN]", "Labels[x]", "history[3].created_by"
	Reason string `json:"reason"` // "env", "label", "build-arg", "finding"
}

// Annotations scrub writes on the manifests and indexes it rebuilds (and,
// for Docker manifests, which have no annotations, as config labels).
const (
	AnnotationRemovedPaths   = "io.github.stratascan.strata.scrub.removed-paths"
	AnnotationRedactedFields = "io.github.stratascan.strata.scrub.redacted-fields"
	AnnotationScrubbedFrom   = "io.github.stratascan.strata.scrub.source-digest"
)

// object is a JSON object edited in place: fields scrub does not know
// survive as they were.
type object map[string]json.RawMessage

func parseObject(raw []byte, what string) (object, error) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnsupported, what, err)
	}
	return o, nil
}

func (o object) get(key string, v any) error {
	raw, ok := o[key]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

func (o object) set(key string, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	o[key] = b
	return nil
}

// marshal encodes without HTML escaping, so "<redacted by strata>" stays
// readable.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// configEditor redacts an image config and sets its diff_ids.
type configEditor struct {
	obj     object
	sel     *Selectors
	eng     *secret.Engine
	changes []ConfigChange
}

// assignment matches NAME=value in a history created_by (BuildKit's
// "|N NAME=value ... /bin/sh -c", ENV, LABEL and ARG instructions).
func assignment(name string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[\s|])` + regexp.QuoteMeta(name) + `=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)`)
}

// rewriteConfig returns the new config bytes and what changed.
func rewriteConfig(ctx context.Context, raw []byte, diffIDs []image.Digest, sel *Selectors, configFindings []scan.Finding, eng *secret.Engine) ([]byte, []ConfigChange, error) {
	o, err := parseObject(raw, "image config")
	if err != nil {
		return nil, nil, err
	}
	ce := &configEditor{obj: o, sel: sel, eng: eng}
	for _, key := range []string{"config", "container_config"} {
		if err := ce.container(key, configFindings); err != nil {
			return nil, nil, err
		}
	}
	if err := ce.history(ctx, configFindings); err != nil {
		return nil, nil, err
	}
	var rootfs object
	if err := o.get("rootfs", &rootfs); err != nil || rootfs == nil {
		return nil, nil, fmt.Errorf("%w: image config has no rootfs", ErrUnsupported)
	}
	if err := rootfs.set("diff_ids", diffIDs); err != nil {
		return nil, nil, err
	}
	if err := o.set("rootfs", rootfs); err != nil {
		return nil, nil, err
	}
	out, err := marshal(o)
	return out, ce.changes, err
}

func (ce *configEditor) add(field, reason string) {
	for _, c := range ce.changes {
		if c.Field == field {
			return
		}
	}
	ce.changes = append(ce.changes, ConfigChange{Field: field, Reason: reason})
}

// container redacts Env and Labels of config or container_config.
func (ce *configEditor) container(key string, fs []scan.Finding) error {
	var c object
	if err := ce.obj.get(key, &c); err != nil || c == nil {
		return err
	}
	var env []string
	var labels map[string]string
	if err := c.get("Env", &env); err != nil {
		return fmt.Errorf("%w: config Env: %v", ErrUnsupported, err)
	}
	if err := c.get("Labels", &labels); err != nil {
		return fmt.Errorf("%w: config Labels: %v", ErrUnsupported, err)
	}
	envChanged, labelsChanged := false, false
	prefix := ""
	if key == "container_config" {
		prefix = "container_config."
	}
	redactEnv := func(i int, reason string) {
		name, _, _ := strings.Cut(env[i], "=")
		if env[i] != name+"="+Redacted {
			env[i] = name + "=" + Redacted
			envChanged = true
		}
		ce.add(prefix+"Env["+name+"]", reason)
	}
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if contains(ce.sel.Env, name) {
			redactEnv(i, "env")
		}
	}
	keys := sortedKeys(labels)
	for _, k := range keys {
		if contains(ce.sel.Labels, k) {
			labels[k] = Redacted
			labelsChanged = true
			ce.add(prefix+"Labels["+k+"]", "label")
		}
	}
	// Findings on config:env / config:label give the line of the joined
	// text, which is the entry (scan joins Env in order, labels sorted).
	for _, f := range fs {
		switch {
		case f.Path == "config:env" && f.Line >= 1 && f.Line <= len(env):
			redactEnv(f.Line-1, "finding")
		case f.Path == "config:label" && f.Line >= 1 && f.Line <= len(keys):
			labels[keys[f.Line-1]] = Redacted
			labelsChanged = true
			ce.add(prefix+"Labels["+keys[f.Line-1]+"]", "finding")
		}
	}
	if envChanged {
		if err := c.set("Env", env); err != nil {
			return err
		}
	}
	if labelsChanged {
		if err := c.set("Labels", labels); err != nil {
			return err
		}
	}
	return ce.obj.set(key, c)
}

// history redacts NAME=value of every named env, label and build arg, and
// the secret of every history finding, in created_by and comment.
func (ce *configEditor) history(ctx context.Context, fs []scan.Finding) error {
	var hist []object
	if err := ce.obj.get("history", &hist); err != nil {
		return fmt.Errorf("%w: config history: %v", ErrUnsupported, err)
	}
	if hist == nil {
		return nil
	}
	type named struct {
		name, reason string
		re           *regexp.Regexp
	}
	var names []named
	for reason, set := range map[string][]string{"build-arg": ce.sel.BuildArgs, "env": ce.sel.Env, "label": ce.sel.Labels} {
		for _, n := range set {
			names = append(names, named{n, reason, assignment(n)})
		}
	}
	byIndex := map[int][]scan.Finding{}
	for _, f := range fs {
		if i, ok := historyIndex(f.Path); ok {
			byIndex[i] = append(byIndex[i], f)
		}
	}
	for i, h := range hist {
		for _, field := range []string{"created_by", "comment"} {
			var s string
			if err := h.get(field, &s); err != nil || s == "" {
				continue
			}
			orig := s
			reason := ""
			for _, n := range names {
				if r := n.re.ReplaceAllString(s, "${1}"+strings.ReplaceAll(n.name, "$", "$$")+"="+Redacted); r != s {
					s, reason = r, n.reason
				}
			}
			if len(byIndex[i]) > 0 {
				r, err := ce.redactFindings(ctx, s, byIndex[i])
				if err != nil {
					return err
				}
				if r != s {
					s, reason = r, "finding"
				}
			}
			if s != orig {
				if err := h.set(field, s); err != nil {
					return err
				}
				ce.add(fmt.Sprintf("history[%d].%s", i, field), reason)
			}
		}
	}
	return ce.obj.set("history", hist)
}

// redactFindings rescans text and replaces every secret whose fingerprint
// a finding names.
func (ce *configEditor) redactFindings(ctx context.Context, text string, fs []scan.Finding) (string, error) {
	if ce.eng == nil {
		return "", fmt.Errorf("%w: redacting a history finding needs the secret engine that found it", ErrBadSelector)
	}
	want := map[string]bool{}
	for _, f := range fs {
		want[f.Fingerprint] = true
	}
	var secrets []string
	ce.eng.ScanText(ctx, "config:history", text, func(m secret.Match) {
		if want[m.Fingerprint] && m.Secret != "" {
			secrets = append(secrets, m.Secret)
		}
	})
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, Redacted)
	}
	return text, nil
}

func historyIndex(p string) (int, bool) {
	s, ok := strings.CutPrefix(p, "config:history[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

func contains(set []string, v string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
