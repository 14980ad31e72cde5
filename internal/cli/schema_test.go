package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestJSONSchemas validates the real --format json output of every command
// against its published schema in docs/schema, and checks that every
// published schema is exercised.
func TestJSONSchemas(t *testing.T) {
	home := isolate(t)
	bases := filepath.Join(home, "bases.db")
	if _, errs, code := run(t, "", "base", "add", "--bases", bases, sample); code != 0 {
		t.Fatalf("base add: %s", errs)
	}
	journals := filepath.Join(home, "journals")
	if err := os.MkdirAll(journals, 0o700); err != nil {
		t.Fatal(err)
	}
	plan := `{"type":"plan","time":"2026-01-02T03:04:05Z","plan":{"repository":"reg.example/app"}}` + "\n"
	if err := os.WriteFile(filepath.Join(journals, "strata-purge-reg-app-20260102T030405Z.jsonl"), []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		schema string
		args   []string
	}{
		{"ls", []string{"ls", "-o", "json", sample}},
		{"ls", []string{"ls", "-o", "json", "--all-layers", sample}},
		{"ls", []string{"ls", "-o", "json", "--layer", "2", sample}},
		{"history", []string{"history", "-o", "json", sample}},
		{"history", []string{"history", "-o", "json", "--show-secrets", sample}},
		{"inspect", []string{"inspect", "-o", "json", sample}},
		{"inspect", []string{"inspect", "-o", "json", "--manifest-only", sample}},
		{"scan", []string{"scan", "-o", "json", "--no-cache", "--verbose", sample}},
		{"extract", []string{"extract", "-o", "json", sample, filepath.Join(home, "out")}},
		{"version", []string{"version", "-o", "json"}},
		{"base-list", []string{"base", "list", "-o", "json", "--bases", bases}},
		{"base-list", []string{"base", "list", "-o", "json", "--bases", filepath.Join(home, "none.db")}},
		{"base-check", []string{"base", "check", "-o", "json", "--bases", bases, sample}},
		{"digest-infer", []string{"digest", "infer", "-o", "json", "--profile", "go-gzip-6", sample}},
		{"purge-journals", []string{"purge", "--list-journals", "-o", "json", "--journal-dir", journals}},
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	used := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.schema+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			sch, err := c.Compile(filepath.Join("..", "..", "docs", "schema", tc.schema+".schema.json"))
			if err != nil {
				t.Fatal(err)
			}
			out, errs, code := run(t, "", tc.args...)
			if code == ExitError {
				t.Fatalf("exit %d: %s", code, errs)
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
			if err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("output does not match docs/schema/%s.schema.json: %v", tc.schema, err)
			}
		})
		used[tc.schema] = true
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "schema", "*.schema.json"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".schema.json"); !used[name] {
			t.Errorf("docs/schema/%s is checked against no real output", filepath.Base(f))
		}
	}
}

// TestJSONSchemasReject: the schemas are not vacuous; an output with a
// relative layer path or a bad state fails.
func TestJSONSchemasReject(t *testing.T) {
	c := jsonschema.NewCompiler()
	for schema, bad := range map[string]string{
		"ls":   `[{"layer":0,"path":"app","type":"file","size":1,"mode":"-rw-r--r--","state":"present","hiddenBy":null}]`,
		"scan": `{"findings":[{"rule":"r","description":"","severity":"critical","image":"x","manifest":"sha256:ab","kind":"image","layer":1,"path":"app/.env","line":1,"state":"gone","hiddenBy":null,"redacted":"","fingerprint":"sha256:00","remediation":""}],"coverage":{"images":1,"layers":1,"files":1,"filesScanned":1,"binarySkipped":0,"bytes":1,"configTexts":0,"attestations":0}}`,
	} {
		sch, err := c.Compile(filepath.Join("..", "..", "docs", "schema", schema+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if sch.Validate(inst) == nil {
			t.Errorf("%s schema accepts %s", schema, bad)
		}
	}
}
