package secret

import (
	"context"
	"math/rand/v2"
	"regexp/syntax"
	"strings"
	"testing"
)

// scanAt scans text as a file at path and returns its findings.
func scanAt(t testing.TB, e *Engine, path, text string) []Match {
	t.Helper()
	var ms []Match
	if _, err := e.ScanFile(context.Background(), path, int64(len(text)), strings.NewReader(text), func(m Match) { ms = append(ms, m) }); err != nil {
		t.Fatal(err)
	}
	return ms
}

func hasRule(ms []Match, id string) bool {
	for _, m := range ms {
		if m.RuleID == id {
			return true
		}
	}
	return false
}

// TestRuleExamples runs every strata rule's own examples (each must be
// found by that rule) and counterexamples (none may be), and checks the
// keys every strata rule must carry.
func TestRuleExamples(t *testing.T) {
	e := defaultEngine(t)
	if err := e.Compile(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range e.Rules() {
		if r.Source != "strata" {
			continue
		}
		n++
		t.Run(r.ID, func(t *testing.T) {
			if r.Confidence != ConfidenceFormat && r.Confidence != ConfidenceKeyword {
				t.Errorf("confidence %q: every strata rule states format or keyword", r.Confidence)
			}
			if r.Regex == "" {
				return // path-only rules (keystores by name): TestBinary
			}
			if len(r.Examples) == 0 || len(r.Counterexamples) == 0 {
				t.Fatalf("%d examples, %d counterexamples: want at least one of each", len(r.Examples), len(r.Counterexamples))
			}
			path := r.ExamplePath
			if path == "" {
				path = "srv/app/config.txt"
			}
			for _, ex := range r.Examples {
				ms := scanAt(t, e, path, ex+"\n")
				if !hasRule(ms, r.ID) {
					t.Errorf("example not found by %s: %q (found %v)", r.ID, ex, ruleIDs(ms))
				}
				for _, m := range ms {
					if m.RuleID == r.ID && m.Confidence != r.Confidence && m.Validation == "" {
						t.Errorf("finding confidence %q, rule says %q", m.Confidence, r.Confidence)
					}
				}
			}
			for _, ex := range r.Counterexamples {
				if ms := scanAt(t, e, path, ex+"\n"); hasRule(ms, r.ID) {
					t.Errorf("counterexample found by %s: %q", r.ID, ex)
				}
			}
		})
	}
	if n < 40 {
		t.Errorf("only %d strata rules", n)
	}
}

func ruleIDs(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.RuleID)
	}
	return out
}

// TestFormatRulesGenerated generates random values from every strata
// format rule's regex (sampleFor) and requires the rule to find them: the
// keywords, anchoring and windows must not lose what the regex matches.
// Values that happen to look like placeholders are skipped.
func TestFormatRulesGenerated(t *testing.T) {
	e := defaultEngine(t)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, r := range e.Rules() {
		if r.Source != "strata" || r.Confidence != ConfidenceFormat || r.Regex == "" || r.Validator != "" || r.Entropy > 0 {
			continue
		}
		re, err := syntax.Parse(r.Regex, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		path := r.ExamplePath
		if path == "" {
			path = "srv/app/config.txt"
		}
		compiled := e.rules[indexOf(e, r.ID)].re
		got := 0
		for range 20 {
			var b strings.Builder
			sampleFor(re, rng, &b)
			s := " " + b.String() + "\n"
			if strings.Contains(r.Regex, "^") {
				s = "\n" + b.String() + "\n"
			} else if len(r.Keywords) > 0 {
				s = r.Keywords[0] + "= " + b.String() + "\n" // keywords outside the regex (sentry-dsn-secret)
			}
			loc := compiled.FindStringSubmatchIndex(s)
			if loc == nil {
				continue
			}
			sec := secretOf(loc, s, r.SecretGroup)
			if isPlaceholder(sec) {
				continue
			}
			got++
			if ms := scanAt(t, e, path, s); !hasRule(ms, r.ID) {
				t.Errorf("%s: generated value not found: %q", r.ID, s)
			}
		}
		if got == 0 {
			t.Errorf("%s: no usable generated sample", r.ID)
		}
	}
}

func indexOf(e *Engine, id string) int {
	for i, r := range e.rules {
		if r.ID == id {
			return i
		}
	}
	return -1
}

func secretOf(loc []int, s string, group int) string {
	if group > 0 && 2*group+1 < len(loc) && loc[2*group] >= 0 {
		return s[loc[2*group]:loc[2*group+1]]
	}
	for g := 1; 2*g+1 < len(loc); g++ {
		if loc[2*g] >= 0 {
			return s[loc[2*g]:loc[2*g+1]]
		}
	}
	return s[loc[0]:loc[1]]
}

// ghToken builds a GitHub-style token with a valid (or broken) checksum.
func ghToken(rng *rand.Rand, prefix string, valid bool) string {
	var b strings.Builder
	for range 30 {
		b.WriteByte(base62Alphabet[rng.IntN(62)])
	}
	body := b.String()
	cs := base62CRC32(body)
	if !valid {
		c := base62Alphabet[(strings.IndexByte(base62Alphabet, cs[5])+1)%62]
		cs = cs[:5] + string(c)
	}
	return prefix + "_" + body + cs
}

func TestGitHubChecksum(t *testing.T) {
	e := defaultEngine(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ prefix, rule string }{
		{"ghp", "github-pat"}, {"gho", "github-oauth"}, {"ghu", "github-app-token"},
		{"ghs", "github-app-token"}, {"ghr", "github-refresh-token"}, {"npm", "npm-access-token"},
	} {
		good, bad := ghToken(rng, c.prefix, true), ghToken(rng, c.prefix, false)
		if !githubCRC32OK(good) || githubCRC32OK(bad) {
			t.Fatalf("%s: checksum check wrong on %s / %s", c.prefix, good, bad)
		}
		ms := scanAt(t, e, "srv/app/env.sh", "export TOKEN="+good+"\n")
		if len(ms) != 1 || ms[0].RuleID != c.rule || ms[0].Confidence != ConfidenceFormat || ms[0].Validation != "github-crc32: valid" {
			t.Errorf("%s valid: %+v", c.prefix, ms)
		}
		ms = scanAt(t, e, "srv/app/env.sh", "export TOKEN="+bad+"\n")
		if len(ms) != 1 || ms[0].RuleID != c.rule || ms[0].Confidence != ConfidenceKeyword || ms[0].Severity != SeverityLow || ms[0].Validation != "github-crc32: invalid" {
			t.Errorf("%s invalid checksum %s: %+v", c.prefix, bad, ms)
		}
		// in a package's test tree: a checksummed value keeps its severity
		ms = scanAt(t, e, "usr/lib/python3/dist-packages/pkg/tests/data.txt", "TOKEN="+good+"\n")
		if len(ms) != 1 || ms[0].Context != ContextExample || ms[0].Severity == SeverityLow {
			t.Errorf("%s valid in tests: %+v", c.prefix, ms)
		}
		ms = scanAt(t, e, "usr/lib/python3/dist-packages/pkg/tests/data.txt", "TOKEN="+bad+"\n")
		if len(ms) != 1 || ms[0].Context != ContextExample || ms[0].Severity != SeverityLow {
			t.Errorf("%s invalid in tests: %+v", c.prefix, ms)
		}
	}
}

// TestPrefixBoundary: a token prefix inside a word is not a token.
func TestPrefixBoundary(t *testing.T) {
	e := defaultEngine(t)
	rng := rand.New(rand.NewPCG(5, 6))
	tok := ghToken(rng, "gho", true)
	for _, c := range []struct {
		text string
		want bool
	}{
		{"x = " + tok, true},
		{"x = \"" + tok + "\"", true},
		{"x = So" + tok, false},
		{"x = 9" + tok, false},
		{"url?token=" + tok, true},
		{"x = shpat_" + rnd(1, 32, "0123456789abcdef"), true},
		{"x = myshpat_" + rnd(1, 32, "0123456789abcdef"), false},
	} {
		ms := scanAt(t, e, "srv/app/a.txt", c.text+"\n")
		if got := len(ms) > 0; got != c.want {
			t.Errorf("%q: found %v, want %v (%v)", c.text, got, c.want, ruleIDs(ms))
		}
	}
}

// TestPlaceholders: documentation keys and template values are not secrets.
func TestPlaceholders(t *testing.T) {
	e := defaultEngine(t)
	for _, text := range []string{
		"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
		"DATABASE_URL=postgres://app:changeme@db/app\n",
		"DATABASE_URL=postgres://app:${DB_PASS}@db/app\n",
		"DATABASE_URL=postgres://app:<your-password>@db/app\n",
		"DATABASE_URL=postgres://app:xxxxxxxx@db/app\n",
		"DATABASE_URL=postgres://app:{password}@db/app\n",
		"GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		"api_key = \"<your-key>\"\n",
		"password = \"${PASSWORD}\"\n",
	} {
		if ms := scanAt(t, e, "srv/app/.env", text); len(ms) > 0 {
			t.Errorf("%q: %v", text, ruleIDs(ms))
		}
	}
	for _, s := range []string{"changeme", "${VAR}", "<your-key>", "xxxxxxxx", "{{ .Values.token }}", "$TOKEN", "%API_KEY%", "AKIAIOSFODNN7EXAMPLE", "000000000000"} {
		if !isPlaceholder(s) {
			t.Errorf("isPlaceholder(%q) = false", s)
		}
	}
	for _, s := range []string{rnd(2, 40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), "hunter2!", "s3cr3t-Pa55"} {
		if isPlaceholder(s) {
			t.Errorf("isPlaceholder(%q) = true", s)
		}
	}
}

// TestExampleContext: findings in installed packages' docs, tests and
// examples are reported low with context example.
func TestExampleContext(t *testing.T) {
	e := defaultEngine(t)
	text := "DATABASE_URL=postgres://app:" + rnd(3, 20, "abcdefghijkmnopqrstuvwxyz0123456789") + "@db:5432/app\n"
	for _, c := range []struct {
		path    string
		example bool
	}{
		{"srv/app/.env", false},
		{"srv/app/tests/settings.py", false}, // the application's own tree
		{"usr/lib/python3/dist-packages/django/tests/settings.py", true},
		{"usr/local/lib/python3.12/site-packages/psycopg/docs/conn.txt", true},
		{"app/node_modules/pg/test/integration/client.js", true},
		{"usr/lib/ruby/gems/3.1.0/gems/pg-1.5/spec/helpers.rb", true},
		{"usr/share/doc/postgresql/examples/conn.conf", true},
		{"var/cache/apt/archives/pg_1.0_all.deb!data.tar.xz!usr/lib/python3/dist-packages/pg/tests/conn.py", true},
	} {
		ms := scanAt(t, e, c.path, text)
		if len(ms) != 1 {
			t.Fatalf("%s: %d findings", c.path, len(ms))
		}
		if got := ms[0].Context == ContextExample; got != c.example || (c.example && ms[0].Severity != SeverityLow) {
			t.Errorf("%s: context %q severity %s, want example=%v", c.path, ms[0].Context, ms[0].Severity, c.example)
		}
	}
}
