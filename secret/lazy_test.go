package secret

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLazyCompile: New compiles nothing; RulesetHash is the same before and
// after compiling; ScanText, ScanFile, Wants and Rules compile on first use.
func TestLazyCompile(t *testing.T) {
	for name, first := range map[string]func(e *Engine){
		"Compile":  func(e *Engine) { e.Compile() },
		"ScanText": func(e *Engine) { e.ScanText(context.Background(), "config:env", "A=b", func(Match) {}) },
		"ScanFile": func(e *Engine) {
			e.ScanFile(context.Background(), "a.txt", 3, strings.NewReader("abc"), func(Match) {})
		},
		"Wants": func(e *Engine) { e.Wants("a.bin", []byte{0, 1, 2}) },
		"Rules": func(e *Engine) { e.Rules() },
	} {
		t.Run(name, func(t *testing.T) {
			e, err := New(Options{Patterns: []string{`FLAG\{[^}]+\}`}})
			if err != nil {
				t.Fatal(err)
			}
			h := e.RulesetHash()
			if e.Compiled() || e.rules != nil || e.pf != nil {
				t.Fatal("New compiled the rules")
			}
			first(e)
			if !e.Compiled() || e.pf == nil || len(e.rules) < 230 {
				t.Fatalf("%s did not compile the rules", name)
			}
			if e.RulesetHash() != h {
				t.Errorf("RulesetHash changed when compiling: %s -> %s", h, e.RulesetHash())
			}
			if err := e.Compile(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRulesetHashSources: the hash follows every source and option that
// changes what is found, and nothing else (a rules file's name, the
// per-file timeout).
func TestRulesetHashSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rule := "[[rules]]\nid = \"acme\"\nregex = '''acme_[a-z]{20}'''\nkeywords = [\"acme_\"]\n"
	r1 := write("r1.toml", rule)
	r1copy := write("copy.toml", rule)
	r2 := write("r2.toml", rule+"severity = \"low\"\n")
	ig1 := write("ig1", "rule:jwt\n")
	ig2 := write("ig2", "rule:jwt\npath:usr/**\n")
	hash := func(o Options) string {
		t.Helper()
		e, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return e.RulesetHash()
	}
	base := hash(Options{})
	differ := map[string]Options{
		"pattern":       {Patterns: []string{"x+y"}},
		"two patterns":  {Patterns: []string{"x+y", "z+"}},
		"rules file":    {RulesFiles: []string{r1}},
		"binaries":      {ScanBinaries: true},
		"max file":      {MaxFileBytes: 1 << 20},
		"archive depth": {MaxArchiveDepth: -1},
		"archive bytes": {MaxArchiveBytes: 1 << 20},
		"ignore":        {IgnoreFile: ig1},
	}
	seen := map[string]string{base: "default"}
	for name, o := range differ {
		h := hash(o)
		if prev, ok := seen[h]; ok {
			t.Errorf("%s: same hash as %s", name, prev)
		}
		seen[h] = name
	}
	if hash(Options{RulesFiles: []string{r1}}) == hash(Options{RulesFiles: []string{r2}}) {
		t.Error("rules files with different content, same hash")
	}
	if hash(Options{IgnoreFile: ig1}) == hash(Options{IgnoreFile: ig2}) {
		t.Error("ignore files with different content, same hash")
	}
	if hash(Options{RulesFiles: []string{r1}}) != hash(Options{RulesFiles: []string{r1copy}}) {
		t.Error("the same rules under another file name changed the hash")
	}
	if hash(Options{FileTimeout: 3}) != base || hash(Options{MaxFileBytes: DefaultMaxFileBytes}) != base {
		t.Error("an option that does not change results (or a default spelled out) changed the hash")
	}
}
