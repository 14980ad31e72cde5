package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/cli"
	"github.com/stratascan/strata/internal/testtool"
)

func strata(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := cli.NewRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs(args)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 2
		if strings.Contains(err.Error(), "exit status 1") {
			code = 1
		}
		t.Logf("strata %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), code
}

// TestImageScript builds strata's own image with scripts/image.sh (a
// static binary, no daemon) and reads it back with strata: one layer with
// exactly the expected files and no shell, a nonroot user in the config,
// nothing found by scan, and the same digest when built twice.
func TestImageScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a static strata binary (minutes with a cold build cache)")
	}
	testtool.Require(t, "git")
	out := filepath.Join(t.TempDir(), "image")
	run := func() string {
		cmd := exec.Command("bash", "../../../scripts/image.sh", out, "test")
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("image.sh: %v\n%s", err, b)
		}
		return strings.TrimSpace(string(b))
	}
	first := run()
	ref := "oci:" + out + ":test"

	js, code := strata(t, "ls", "-o", "json", ref)
	if code != 0 {
		t.Fatalf("ls exit %d", code)
	}
	var rows []struct {
		Path, Type, Mode string
		Layer            int
	}
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Path)
		if r.Layer != 0 {
			t.Errorf("%s in layer %d: the image has one layer", r.Path, r.Layer)
		}
	}
	want := "/etc /etc/group /etc/passwd /etc/ssl /etc/ssl/certs /etc/ssl/certs/ca-certificates.crt /home /home/nonroot /tmp /usr /usr/local /usr/local/bin /usr/local/bin/strata"
	if strings.Join(got, " ") != want {
		t.Errorf("files:\n got %s\nwant %s", strings.Join(got, " "), want)
	}

	js, _ = strata(t, "inspect", "-o", "json", ref)
	var ins struct {
		Images []struct {
			Layers []struct {
				MediaType string `json:"mediaType"`
			} `json:"layers"`
			Platform string `json:"platform"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(js), &ins); err != nil || len(ins.Images) != 1 || len(ins.Images[0].Layers) != 1 || !strings.HasPrefix(ins.Images[0].Platform, "linux/") {
		t.Fatalf("inspect: %v %s", err, js)
	}

	js, code = strata(t, "scan", "--no-cache", "-o", "json", ref)
	var res struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal([]byte(js), &res); err != nil || code != 0 || len(res.Findings) != 0 {
		t.Fatalf("scan: exit %d, %d findings (%v)\n%s", code, len(res.Findings), err, js)
	}

	// The config runs strata as the nonroot user; the binary is static.
	cfg := configOf(t, out)
	if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != binPath {
		t.Errorf("config: %+v", cfg.Config)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	var b bytes.Buffer
	root := cli.NewRoot(nil, &b, &b)
	root.SetArgs([]string{"cat", ref, binPath})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("strata in the image is dynamically linked (has an ELF interpreter)")
		}
	}
	f.Close()
	if v, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(v), "strata ") || strings.Contains(string(v), "commit unknown") {
		t.Errorf("%s --version: %v %q", bin, err, v)
	}

	if second := run(); second != first {
		t.Errorf("two builds differ: %q then %q", first, second)
	}
}

type configFile struct {
	Config struct {
		User       string
		Entrypoint []string
	} `json:"config"`
}

func configOf(t *testing.T, layout string) configFile {
	t.Helper()
	read := func(v any, digest string) {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ix struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(b, &ix); err != nil || len(ix.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	var m struct{ Config struct{ Digest string } }
	read(&m, ix.Manifests[0].Digest)
	var c configFile
	read(&c, m.Config.Digest)
	return c
}
