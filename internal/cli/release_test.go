package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestReleaseConfig: the release covers linux, darwin and windows on amd64
// and arm64, stamps the version variables this package reads, and makes
// checksums and an SBOM with a generator that exists.
func TestReleaseConfig(t *testing.T) {
	var cfg struct {
		Builds []struct {
			Main    string   `yaml:"main"`
			Env     []string `yaml:"env"`
			Goos    []string `yaml:"goos"`
			Goarch  []string `yaml:"goarch"`
			Ldflags []string `yaml:"ldflags"`
		} `yaml:"builds"`
		Checksum map[string]string `yaml:"checksum"`
		Sboms    []struct {
			Cmd  string   `yaml:"cmd"`
			Args []string `yaml:"args"`
		} `yaml:"sboms"`
	}
	readYAML(t, ".goreleaser.yaml", &cfg)
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds", len(cfg.Builds))
	}
	b := cfg.Builds[0]
	for _, os := range []string{"linux", "darwin", "windows"} {
		if !slices.Contains(b.Goos, os) {
			t.Errorf("no %s build", os)
		}
	}
	for _, a := range []string{"amd64", "arm64"} {
		if !slices.Contains(b.Goarch, a) {
			t.Errorf("no %s build", a)
		}
	}
	if !slices.Contains(b.Env, "CGO_ENABLED=0") || b.Main != "./cmd/strata" {
		t.Errorf("build %+v", b)
	}
	ld := strings.Join(b.Ldflags, " ")
	for _, v := range []string{"internal/cli.version=", "internal/cli.commit=", "internal/cli.date="} {
		if !strings.Contains(ld, "github.com/stratascan/strata/"+v) {
			t.Errorf("ldflags do not stamp %s", v)
		}
	}
	if cfg.Checksum["algorithm"] != "sha256" || len(cfg.Sboms) != 1 || cfg.Sboms[0].Cmd != "go" || !slices.Contains(cfg.Sboms[0].Args, "./internal/cmd/sbom") {
		t.Errorf("checksum %v sboms %+v", cfg.Checksum, cfg.Sboms)
	}
	if _, err := os.Stat(filepath.Join("..", "cmd", "sbom", "main.go")); err != nil {
		t.Error(err)
	}
}

// TestActionScript: action.yml takes an image and a threshold, scans to
// SARIF, and every shell step is valid bash.
func TestActionScript(t *testing.T) {
	var act struct {
		Inputs map[string]any `yaml:"inputs"`
		Runs   struct {
			Using string `yaml:"using"`
			Steps []struct {
				Name  string            `yaml:"name"`
				Uses  string            `yaml:"uses"`
				Run   string            `yaml:"run"`
				Shell string            `yaml:"shell"`
				With  map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	readYAML(t, "action.yml", &act)
	for _, in := range []string{"image", "fail-on", "sarif-file"} {
		if _, ok := act.Inputs[in]; !ok {
			t.Errorf("input %s missing", in)
		}
	}
	if act.Runs.Using != "composite" {
		t.Errorf("runs.using %q", act.Runs.Using)
	}
	var scans, uploads int
	for _, s := range act.Runs.Steps {
		if strings.Contains(s.Run, "strata\" scan") && strings.Contains(s.Run, "--format sarif") {
			scans++
		}
		if strings.HasPrefix(s.Uses, "github/codeql-action/upload-sarif") {
			uploads++
		}
		if s.Run == "" {
			continue
		}
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(s.Run)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("step %q is not valid bash: %v %s", s.Name, err, out)
		}
	}
	if scans != 1 || uploads != 1 {
		t.Errorf("%d scan steps writing SARIF, %d uploads", scans, uploads)
	}
}
