package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/report"
)

// isolate points every per-user location (config, state, data, cache) at
// an empty temp dir and clears STRATA_* from the environment.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "STRATA_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", home)
	for _, x := range []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(x, filepath.Join(home, strings.ToLower(x)))
	}
	return home
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "strata ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "built ") {
		t.Fatalf("--version: exit %d %q", code, out)
	}
	out2, _, code := run(t, "", "version")
	if code != 0 || out2 != out {
		t.Fatalf("version = %q, --version = %q", out2, out)
	}
	out, _, code = run(t, "", "version", "-o", "json")
	var bi BuildInfo
	if err := json.Unmarshal([]byte(out), &bi); code != 0 || err != nil || bi.Version == "" || bi.GoVersion == "" || bi.Platform == "" {
		t.Fatalf("version -o json: exit %d %v %q", code, err, out)
	}
}

// TestConfigPrecedence: flag > environment > command section > top level.
func TestConfigPrecedence(t *testing.T) {
	home := isolate(t)
	cfg := filepath.Join(home, "xdg_config_home", "strata", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	isJSON := func(out string) bool { return strings.HasPrefix(strings.TrimSpace(out), "[") }

	write("format: json\n")
	if out, errs, code := run(t, "", "ls", sample); code != 0 || !isJSON(out) {
		t.Fatalf("top-level format: json ignored: exit %d %s %.60q", code, errs, out)
	}
	write("format: json\nls:\n  format: table\n")
	if out, _, _ := run(t, "", "ls", sample); isJSON(out) {
		t.Fatal("ls section did not override the top level")
	}
	t.Setenv("STRATA_FORMAT", "json")
	if out, _, _ := run(t, "", "ls", sample); !isJSON(out) {
		t.Fatal("STRATA_FORMAT did not override the config file")
	}
	if out, _, _ := run(t, "", "ls", "-o", "table", sample); isJSON(out) {
		t.Fatal("the flag did not override STRATA_FORMAT")
	}
	os.Unsetenv("STRATA_FORMAT")

	// A repeatable flag from a list; a bool from the environment.
	write("scan:\n  fail-on: none\n")
	if _, errs, code := run(t, "", "scan", "--no-cache", sample); code != 0 {
		t.Fatalf("scan section fail-on: none ignored: exit %d %s", code, errs)
	}
	t.Setenv("STRATA_FAIL_ON", "critical")
	if _, _, code := run(t, "", "scan", "--no-cache", sample); code != ExitFindings {
		t.Fatalf("STRATA_FAIL_ON=critical: exit %d, want 1", code)
	}
	os.Unsetenv("STRATA_FAIL_ON")

	// --config names another file; typos are errors, not ignored.
	other := filepath.Join(home, "other.yaml")
	if err := os.WriteFile(other, []byte("fial-on: high\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run(t, "", "--config", other, "ls", sample); code != ExitError || !strings.Contains(errs, "unknown keys fial-on") {
		t.Fatalf("typo in config: exit %d %q", code, errs)
	}
	if _, errs, code := run(t, "", "--config", filepath.Join(home, "missing.yaml"), "ls", sample); code != ExitError || !strings.Contains(errs, "missing.yaml") {
		t.Fatalf("missing --config: exit %d %q", code, errs)
	}
	t.Setenv("STRATA_VERBOSE", "maybe")
	if _, errs, code := run(t, "", "ls", sample); code != ExitError || !strings.Contains(errs, "STRATA_VERBOSE") {
		t.Fatalf("bad STRATA_VERBOSE: exit %d %q", code, errs)
	}
}

func TestHelpShowsConfiguration(t *testing.T) {
	out, _, _ := run(t, "", "scan", "--help")
	for _, want := range []string{"STRATA_<FLAG>", "config.yaml", "Precedence: flag > environment"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan --help lacks %q", want)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "scan", "--format", ""}, []string{"table", "json", "sarif"}},
		{[]string{"__complete", "ls", "--format", ""}, []string{"table", "json"}},
		{[]string{"__complete", "scan", "--fail-on", ""}, []string{"any", "high", "critical", "none"}},
		{[]string{"__complete", "ls", "--platform", ""}, []string{"linux/amd64", "linux/arm64"}},
		{[]string{"__complete", "ls", ""}, []string{"oci:", "docker-archive:", "docker://"}},
		{[]string{"__complete", "ls", "oci:../../examples/"}, []string{"oci:../../examples/leaky-app/"}},
	} {
		out, errs, code := run(t, "", c.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", c.args, code, errs)
		}
		lines := strings.Split(out, "\n")
		for _, w := range c.want {
			found := false
			for _, l := range lines {
				found = found || strings.SplitN(l, "\t", 2)[0] == w
			}
			if !found {
				t.Errorf("%v: %q not offered in %q", c.args, w, out)
			}
		}
	}
	out, _, code := run(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_strata") {
		t.Fatalf("completion bash: exit %d", code)
	}
}

// TestReadOnlyCommandsCreateNoFiles: listing bases and journals leaves the
// user's data and state directories untouched.
func TestReadOnlyCommandsCreateNoFiles(t *testing.T) {
	home := isolate(t)
	for _, args := range [][]string{{"base", "list"}, {"base", "list", "-o", "json"}, {"base", "export"}, {"purge", "--list-journals"}, {"ls", sample}} {
		if _, errs, code := run(t, "", args...); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
	}
	err := filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != home {
			t.Errorf("read-only command created %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPurgeListJournals(t *testing.T) {
	home := isolate(t)
	dir := filepath.Join(home, "xdg_state_home", "strata")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(dir, "strata-purge-reg-app-20260102T030405Z.jsonl")
	plan := `{"type":"plan","time":"2026-01-02T03:04:05Z","plan":{"repository":"reg.example/app"}}` + "\n"
	if err := os.WriteFile(j, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, "", "purge", "--list-journals")
	if code != 0 || !strings.Contains(out, "reg.example/app") || !strings.Contains(out, "strata purge --resume "+j) {
		t.Fatalf("--list-journals: exit %d %s\n%s", code, errs, out)
	}
	out, _, _ = run(t, "", "purge", "--list-journals", "--journal-dir", t.TempDir())
	if !strings.Contains(out, "No purge journals") {
		t.Fatalf("empty --journal-dir: %s", out)
	}
}

func TestExtractJSONSummary(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := run(t, "", "extract", "-o", "json", "--layer", "1", "--path", "/app", sample, dir)
	var sum report.Extraction
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil {
		t.Fatalf("exit %d %s %v: %q", code, errs, err, out)
	}
	if sum.Files == 0 || sum.Layer == nil || *sum.Layer != 1 || sum.Directory != dir || sum.Refused == nil {
		t.Fatalf("summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "app", ".env")); err != nil {
		t.Fatalf("layer 1's .env not extracted: %v", err)
	}
}
