package secret

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"regexp"
	"regexp/syntax"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/viper"
	glconfig "github.com/zricethezav/gitleaks/v8/config"
)

// strataRules holds strata's own rules, one TOML file per family, loaded in
// file-name order after gitleaks' default rules.
//
//go:embed rules/*.toml
var strataRules embed.FS

// strataRulesFiles returns the embedded rules files' names and texts, in
// name order.
var strataRulesFiles = sync.OnceValue(func() (files [][2]string) {
	ents, err := fs.ReadDir(strataRules, "rules")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	for _, e := range ents {
		b, err := fs.ReadFile(strataRules, "rules/"+e.Name())
		if err != nil {
			panic(err)
		}
		files = append(files, [2]string{e.Name(), string(b)})
	}
	return files
})

// ErrBadRules is wrapped by every error about a rules file or pattern that
// cannot be used.
var ErrBadRules = errors.New("invalid secret rules")

// Severity levels, highest first.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// SeverityRank orders severities: critical 4, high 3, medium 2, low 1, other 0.
func SeverityRank(s string) int {
	switch strings.ToLower(s) {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// gitleaksSeverity maps some gitleaks rule IDs away from the default "high".
var gitleaksSeverity = map[string]string{
	"aws-access-token":                   SeverityCritical,
	"gcp-api-key":                        SeverityHigh,
	"github-pat":                         SeverityCritical,
	"github-fine-grained-pat":            SeverityCritical,
	"github-oauth":                       SeverityCritical,
	"github-app-token":                   SeverityCritical,
	"github-refresh-token":               SeverityCritical,
	"gitlab-pat":                         SeverityCritical,
	"gitlab-runner-authentication-token": SeverityHigh,
	"stripe-access-token":                SeverityCritical,
	"age-secret-key":                     SeverityCritical,
	"generic-api-key":                    SeverityMedium,
	"jwt":                                SeverityMedium,
	"jwt-base64":                         SeverityMedium,
	"kubernetes-secret-yaml":             SeverityMedium,
	"hashicorp-tf-password":              SeverityMedium,
	"curl-auth-header":                   SeverityMedium,
	"curl-auth-user":                     SeverityMedium,
}

// extraAllowlists are strata's additions to gitleaks rules' allowlists, for
// false positives common in container images.
var extraAllowlists = map[string][]*glconfig.Allowlist{
	"generic-api-key": {
		mustAllowlist(&glconfig.Allowlist{
			Description: "OpenPGP key IDs and fingerprints (ENV GPG_KEY=... in official images), checksums and hash pins",
			RegexTarget: "match",
			Regexes: []*regexp.Regexp{scoped(
				`(?i)(?:gpg|pgp|gnupg)[_.-]?keys?\b|keys?[_.-]?(?:fingerprint|fpr|grip|hash|checksum|digest)|fingerprint|checksum|(?:sha|md)(?:1|5|224|256|384|512)(?:sum)?["']?\s*[:=]|keymap`)},
		}),
		mustAllowlist(&glconfig.Allowlist{
			Description: "Values that are file names, identifiers, word/word phrases or key=value references",
			Regexes: []*regexp.Regexp{
				scoped(`(?i)^[\w.-]+\.(?:xml|json|ya?ml|pem|crt|cer|csr|key|pub|txt|md|conf|cfg|ini|bin|der|p12|html?|c|h|cc|cpp|py|sh|js|ts|go|rb|java|so|gz|tar|zip|log|out|res|tmpl)$`),
				scoped(`^[a-z][a-z0-9]*(?:[/_.-][a-z0-9]+){2,}$`),
				scoped(`^[A-Za-z]+(?:/[A-Za-z]+)+$`),
				// module.attribute with identifier-like parts (snake_case or CamelCase)
				scoped(`^(?:[a-z_][a-z0-9_]*|[A-Z]?[a-z]+(?:[A-Z][a-z]+)*)(?:\.(?:[a-z_][a-z0-9_]*|[A-Z]?[a-z]+(?:[A-Z][a-z]+)*))+$`),
				scoped(`(?i)^(?:uuid|id|name|file|path|type)=`),
				// C macro and constant names (COPHH_KEY_UTF8)
				scoped(`^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$`),
			},
		}),
	},
}

// docPaths are documentation trees: examples there are the main source of
// false positives for the low-confidence rules in docRules (formats with a
// distinctive prefix, private keys and strata's own rules still apply).
// The same rules skip comment lines in the code of installed packages
// (installedComment): API documentation in comments ("uri.password =
// \"V3ry_S3nsit1ve\"" in Ruby's uri/generic.rb).
var docPaths = scoped(`(?:^|[/!])usr/(?:local/)?share/(?:doc|man|info|help|gtk-doc|javadoc|devhelp)/`)

var docRules = []string{"generic-api-key", "jwt", "jwt-base64", "curl-auth-header", "curl-auth-user", "kubernetes-secret-yaml"}

func init() {
	for _, id := range docRules {
		extraAllowlists[id] = append(extraAllowlists[id], mustAllowlist(&glconfig.Allowlist{
			Description: "documentation examples",
			Paths:       []*regexp.Regexp{docPaths},
		}))
	}
}

// scoped compiles a regex for an allowlist: gitleaks joins an allowlist's
// regexes as "a|b|c", so an inline flag such as (?i) would leak into the
// regexes after it unless each one is a group.
func scoped(pat string) *regexp.Regexp { return regexp.MustCompile("(?:" + pat + ")") }

func mustAllowlist(a *glconfig.Allowlist) *glconfig.Allowlist {
	if err := a.Validate(); err != nil {
		panic(err)
	}
	return a
}

// RuleInfo describes one effective rule.
type RuleInfo struct {
	ID          string
	Description string
	Severity    string
	Source      string // "gitleaks", "strata", a rules file path, or "pattern"
	Keywords    []string
	Regex       string
	Path        string
	Entropy     float64
	SecretGroup int
	// Confidence is ConfidenceFormat when the rule matches a provider's
	// exact token format (a distinctive prefix, fixed length and alphabet,
	// or a checksum), ConfidenceKeyword for keyword (+ entropy) rules.
	Confidence string
	// Validator names the check run on every secret the rule finds (see
	// Validators), or is empty.
	Validator string
	// Examples and Counterexamples are the rule file's own test cases: text
	// the rule must find, and text it must not.
	Examples, Counterexamples []string
	// ExamplePath is the file path the examples are scanned under (for
	// rules with a path regex).
	ExamplePath string
}

// ruleSet is one source's rules plus the allowlists that apply to all of them.
type rule struct {
	RuleInfo
	re          *regexp.Regexp
	path        *regexp.Regexp
	allow       []*glconfig.Allowlist // the rule's own allowlists
	global      []*glconfig.Allowlist // the allowlists global to its source
	generic     bool                  // a lower-priority catch-all rule (gitleaks' "generic" dedupe)
	wide        bool                  // can match far across lines: window not bounded by the line
	multiline   bool                  // can match a newline: window includes maxNL more lines
	maxNL       int                   // most line breaks in a match (-1: unbounded)
	keywordless bool                  // content rule with no keywords: runs on every line
	anchor      *anchorInfo           // non-nil: run anchored at keyword hits
	need        []string              // every match contains one of these (lowercase ASCII); nil: unknown
	pathNeed    []string              // the same for the path regex
	prefixBound bool                  // the match must not follow a letter or digit (needsPrefixBoundary)
	docRule     bool                  // a low-confidence rule (docRules): not run on docs, nor on comments of installed code
	user        bool                  // from Options.RulesFiles or Options.Patterns
}

// loadTOML parses rules in gitleaks' TOML format. source names them in
// messages and RuleInfo.Source. defaultSeverity applies to rules without a
// "severity" key (which strata adds to the gitleaks format).
func loadTOML(text, source, defaultSeverity string, sevOverride map[string]string) (rules []*rule, err error) {
	defer func() {
		// gitleaks' Translate compiles with MustCompile and panics on a bad regex.
		if p := recover(); p != nil {
			rules = nil
			err = fmt.Errorf("%w: %s: %v", ErrBadRules, source, p)
		}
	}()
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(strings.NewReader(text)); err != nil {
		return nil, fmt.Errorf("%w: %s: parse TOML: %v", ErrBadRules, source, err)
	}
	var vc glconfig.ViperConfig
	if err := v.Unmarshal(&vc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRules, source, err)
	}
	if vc.Extend.Path != "" || vc.Extend.URL != "" || vc.Extend.UseDefault || len(vc.Extend.DisabledRules) > 0 {
		return nil, fmt.Errorf("%w: %s: [extend] is not supported (strata always loads the default gitleaks rules; remove the [extend] table)", ErrBadRules, source)
	}
	ext, err := readExtensions(v, source)
	if err != nil {
		return nil, err
	}
	cfg, err := vc.Translate()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRules, source, err)
	}
	for _, gr := range cfg.GetOrderedRules() {
		if gr.SkipReport {
			continue
		}
		r := &rule{
			RuleInfo: RuleInfo{
				ID:          gr.RuleID,
				Description: gr.Description,
				Source:      source,
				Keywords:    gr.Keywords,
				Entropy:     gr.Entropy,
				SecretGroup: gr.SecretGroup,
			},
			re:     gr.Regex,
			path:   gr.Path,
			allow:  gr.Allowlists,
			global: cfg.Allowlists,
		}
		r.Severity = defaultSeverity
		if s, ok := sevOverride[r.ID]; ok {
			r.Severity = s
		}
		if x, ok := ext[r.ID]; ok {
			if x.Severity != "" {
				r.Severity = x.Severity
			}
			r.Confidence, r.Validator = x.Confidence, x.Validator
			r.Examples, r.Counterexamples, r.ExamplePath = x.Examples, x.Counterexamples, x.ExamplePath
		}
		if r.re != nil {
			r.Regex = r.re.String()
		}
		if r.path != nil {
			r.Path = r.path.String()
		}
		r.generic = strings.Contains(strings.ToLower(r.ID), "generic")
		if err := r.classify(); err != nil {
			return nil, fmt.Errorf("%w: %s: rule %q: %v", ErrBadRules, source, r.ID, err)
		}
		if r.Confidence == "" {
			r.Confidence = r.inferConfidence()
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ruleExt is strata's extension of gitleaks' rule format: keys gitleaks
// ignores.
type ruleExt struct {
	ID              string
	Severity        string
	Confidence      string
	Validator       string
	Examples        []string
	Counterexamples []string
	ExamplePath     string
}

// readExtensions reads and checks the strata keys of every rule in v.
func readExtensions(v *viper.Viper, source string) (map[string]ruleExt, error) {
	var doc struct{ Rules []ruleExt }
	_ = v.Unmarshal(&doc) // the gitleaks schema was already checked
	out := map[string]ruleExt{}
	for _, r := range doc.Rules {
		if r.Severity != "" {
			r.Severity = strings.ToLower(r.Severity)
			if SeverityRank(r.Severity) == 0 {
				return nil, fmt.Errorf("%w: %s: rule %q: severity %q is not one of critical, high, medium, low", ErrBadRules, source, r.ID, r.Severity)
			}
		}
		switch r.Confidence = strings.ToLower(r.Confidence); r.Confidence {
		case "", ConfidenceFormat, ConfidenceKeyword:
		default:
			return nil, fmt.Errorf("%w: %s: rule %q: confidence %q is not one of format, keyword", ErrBadRules, source, r.ID, r.Confidence)
		}
		if r.Validator != "" {
			if _, ok := validators[r.Validator]; !ok {
				return nil, fmt.Errorf("%w: %s: rule %q: unknown validator %q (known: %s)", ErrBadRules, source, r.ID, r.Validator, strings.Join(Validators(), ", "))
			}
		}
		out[r.ID] = r
	}
	return out, nil
}

// classify decides how wide a window the rule's regex needs.
func (r *rule) classify() error {
	r.pathNeed = regexNeed(r.path)
	if r.re == nil {
		return nil
	}
	r.keywordless = len(r.Keywords) == 0
	re, err := syntax.Parse(r.re.String(), syntax.Perl)
	if err != nil {
		return err
	}
	r.maxNL = maxNewlines(re)
	r.multiline = r.maxNL != 0
	r.wide = r.maxNL < 0 || r.maxNL > maxLinesAfter
	r.anchor, r.need = anchorRule(r)
	if rn := regexNeed(r.re); rn != nil && (r.need == nil || better(rn, r.need)) {
		r.need = rn
	}
	for _, n := range r.need {
		for i := 0; i < len(n); i++ {
			if n[i] >= 128 {
				r.need = nil // only ASCII literals are searched for
			}
		}
	}
	return nil
}

// maxLinesAfter is the most line breaks a rule may match and still run on a
// line-bounded window; rules that can match more are "wide".
const maxLinesAfter = 16

// maxNewlines is the most line breaks a match of re can hold (-1: no bound).
func maxNewlines(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, c := range re.Rune {
			if c == '\n' {
				n++
			}
		}
		return n
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return 1
			}
		}
		return 0
	case syntax.OpAnyChar:
		return 1
	case syntax.OpCapture, syntax.OpQuest:
		return maxNewlines(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, sub := range re.Sub {
			m := maxNewlines(sub)
			if m < 0 {
				return -1
			}
			n += m
		}
		return n
	case syntax.OpAlternate:
		n := 0
		for _, sub := range re.Sub {
			m := maxNewlines(sub)
			if m < 0 {
				return -1
			}
			n = max(n, m)
		}
		return n
	case syntax.OpStar, syntax.OpPlus:
		if maxNewlines(re.Sub[0]) != 0 {
			return -1
		}
		return 0
	case syntax.OpRepeat:
		m := maxNewlines(re.Sub[0])
		switch {
		case m == 0:
			return 0
		case m < 0 || re.Max < 0:
			return -1
		}
		return m * re.Max
	}
	return 0
}

// patternRule builds the one-off rule of --pattern.
func patternRule(n int, expr string) (*rule, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: --pattern %q: %v", ErrBadRules, expr, err)
	}
	r := &rule{
		RuleInfo: RuleInfo{
			ID:          fmt.Sprintf("custom-pattern-%d", n),
			Description: "Matched the custom pattern " + expr,
			Severity:    SeverityHigh,
			Source:      "pattern",
			Regex:       expr,
			// the user's own exact pattern: it wins a tie with a built-in
			// rule on the same secret
			Confidence: ConfidenceFormat,
		},
		re: re,
	}
	if prefix, _ := re.LiteralPrefix(); len(prefix) >= 3 {
		r.Keywords = []string{strings.ToLower(prefix)}
	}
	if err := r.classify(); err != nil {
		return nil, fmt.Errorf("%w: --pattern %q: %v", ErrBadRules, expr, err)
	}
	return r, nil
}

var builtinOnce = sync.OnceValues(func() ([]*rule, error) {
	gl, err := loadTOML(glconfig.DefaultConfig, "gitleaks", SeverityHigh, gitleaksSeverity)
	if err != nil {
		return nil, fmt.Errorf("load gitleaks default rules: %w", err)
	}
	for _, r := range gl {
		r.allow = append(r.allow, extraAllowlists[r.ID]...)
	}
	for _, r := range gl {
		r.Validator = gitleaksValidators[r.ID]
		if c, ok := gitleaksConfidence[r.ID]; ok {
			r.Confidence = c
		}
	}
	for _, f := range strataRulesFiles() {
		own, err := loadTOML(f[1], "strata", SeverityHigh, nil)
		if err != nil {
			return nil, fmt.Errorf("load strata rules %s: %w", f[0], err)
		}
		gl = append(gl, own...)
	}
	for _, r := range gl {
		// built-in rules only: a user's rules and patterns keep gitleaks' semantics
		r.prefixBound = r.needsPrefixBoundary()
		r.docRule = r.Source == "gitleaks" && slices.Contains(docRules, r.ID)
	}
	return gl, nil
})

// builtinRules are gitleaks' default rules then strata's, parsed once per
// process; rules are never modified after loading, so engines share them.
func builtinRules() ([]*rule, error) { return builtinOnce() }

// mergeRules assembles the effective ruleset: gitleaks' defaults, strata's
// own rules (which replace gitleaks rules of the same ID), then the rules
// files' and patterns' rules, a later rule replacing an earlier one of the
// same ID.
func mergeRules(builtin, user []*rule) []*rule {
	var all []*rule
	pos := map[string]int{}
	for _, rs := range [][]*rule{builtin, user} {
		for _, r := range rs {
			if i, ok := pos[r.ID]; ok {
				all[i] = r
				continue
			}
			pos[r.ID] = len(all)
			all = append(all, r)
		}
	}
	return all
}

// gitleaksVersion is the gitleaks module version linked in ("" when the
// build carries no module information): its TOML translation is part of
// the ruleset.
var gitleaksVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/zricethezav/gitleaks/v8" {
			if d.Replace != nil {
				return d.Version + "=>" + d.Replace.Path + "@" + d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
})

// hashSources returns a stable sha256 over the sources of the effective
// ruleset, without compiling anything: the engine version, the Go and
// gitleaks versions (their regexp engine and TOML translation), gitleaks'
// default config text, strata's severity map, allowlist additions,
// validator and confidence overrides and embedded rules, then sources (the
// rules files' bytes and the patterns, in order) and extra (options).
func hashSources(sources []string, extra ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	str := func(s string) { // length-prefixed, so the sequence is unambiguous
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		io.WriteString(h, s)
	}
	strs := func(ss []string) {
		str(strconv.Itoa(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	str(engineVersion)
	str(runtime.Version())
	str("gitleaks " + gitleaksVersion())
	str(glconfig.DefaultConfig)
	for _, m := range []map[string]string{gitleaksSeverity, gitleaksValidators, gitleaksConfidence} {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			str(id)
			str(m[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(extraAllowlists)) {
		str(id)
		as := extraAllowlists[id]
		str(strconv.Itoa(len(as)))
		for _, a := range as {
			str(a.Description)
			str(a.MatchCondition.String())
			str(a.RegexTarget)
			strs(a.Commits)
			strs(a.StopWords)
			str(strconv.Itoa(len(a.Paths)))
			for _, p := range a.Paths {
				str(p.String())
			}
			str(strconv.Itoa(len(a.Regexes)))
			for _, p := range a.Regexes {
				str(p.String())
			}
		}
	}
	for _, f := range strataRulesFiles() {
		str(f[0])
		str(f[1])
	}
	strs(sources)
	strs(extra)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
