package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/registrytest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// run executes strata with args and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(strings.NewReader(stdin), &out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	if err != nil {
		code = ExitError
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		if code == ExitError {
			errb.WriteString(err.Error())
		}
	}
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (go test ./internal/cli -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

const sample = "oci:../../examples/leaky-app:latest"

func TestGoldenSample(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"ls-all-layers.json", []string{"ls", "--all-layers", "--format", "json", sample}},
		{"ls-final.txt", []string{"ls", sample}},
		{"ls-layer1.txt", []string{"ls", "--layer", "1", sample, "/app"}},
		{"inspect.txt", []string{"inspect", sample}},
		{"inspect.json", []string{"inspect", "--format", "json", sample}},
		{"history.txt", []string{"history", sample}},
		{"history.json", []string{"history", "--format", "json", sample}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errs, code := run(t, "", c.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, c.name, out)
		})
	}
}

func TestHistoryMasksBuildArgs(t *testing.T) {
	out, _, _ := run(t, "", "history", sample)
	if strings.Contains(out, "Zt9qW3eR7tY1uI5oP8aS2dF6gH0jK4lX9cV3bN7m") || !strings.Contains(out, "AWS_SECRET_ACCESS_KEY=<redacted>") {
		t.Fatalf("build-arg secret not masked:\n%s", out)
	}
	out, _, _ = run(t, "", "history", "--show-secrets", sample)
	if !strings.Contains(out, "Zt9qW3eR7tY1uI5oP8aS2dF6gH0jK4lX9cV3bN7m") {
		t.Fatalf("--show-secrets did not reveal:\n%s", out)
	}
}

func TestCatRecoversDeletedFile(t *testing.T) {
	out, errs, code := run(t, "", "cat", sample, "/app/.env")
	if code != 0 || !strings.Contains(out, "STRIPE_API_KEY=") || !strings.Contains(errs, "deleted in the final image (by layer 2)") {
		t.Fatalf("exit %d out %q err %q", code, out, errs)
	}
	_, errs, code = run(t, "", "cat", sample, "/nope")
	if code != ExitError || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: exit %d err %q", code, errs)
	}
}

func TestExtractCLI(t *testing.T) {
	dir := t.TempDir()
	_, errs, code := run(t, "", "extract", sample, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "app/.env")); !os.IsNotExist(err) {
		t.Fatal("deleted .env extracted into the final filesystem")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "app/requirements.txt")); string(b) != "flask==3.0.0\n" {
		t.Fatalf("requirements.txt = %q", b)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ls", "sif:x"}, "not supported"},
		{[]string{"ls", "oci:/nonexistent/layout"}, "/nonexistent/layout"},
		{[]string{"ls", "--layer", "9", sample}, "out of range"},
		{[]string{"ls", "--format", "xml", sample}, `--format: unknown output format "xml": use one of table, json`},
		{[]string{"ls", "--platform", "linux", sample}, "invalid platform"},
		{[]string{"ls", "--layer", "-2", sample}, "--layer -2: a layer index is 0"},
		{[]string{"cat", "--layer", "-1", sample, "/app/.env"}, "--layer -1: a layer index is 0"},
		{[]string{"ls", "--all-layers", "--layer", "1", sample}, "[all-layers layer] were all set"},
		{[]string{"ls", "--platform", "linux/amd64", "--all-platforms", sample}, "were all set"},
		{[]string{"cat", "-o", "json", sample, "/app/.env"}, `unknown output format "json": use one of table`},
		{[]string{"base", "list", "-o", "bogus"}, `unknown output format "bogus"`},
		{[]string{"base", "add", "-o", "json", sample}, `unknown output format "json"`},
		{[]string{"digest", "infer", "-o", "bogus", sample}, `unknown output format "bogus"`},
		{[]string{"scan", "-o", "xml", sample}, "use one of table, json, sarif, html"},
		{[]string{"scan", "--fail-on", "severe", sample}, "unknown severity"},
		// Library errors name no flag; the CLI adds the one that helps.
		{[]string{"cat", sample, "/app/nope"}, "no layer of sha256:330e45178f93"},
		{[]string{"cat", sample, "/app/nope"}, "has a regular file at /app/nope; list what every layer holds with: strata ls --all-layers IMAGE"},
		{[]string{"extract", "--max-bytes", "10", sample, "@TMP"}, "(at /etc/os-release in layer 0, 41 bytes); raise --max-bytes or narrow --path"},
	}
	for _, c := range cases {
		for i, a := range c.args {
			if a == "@TMP" {
				c.args[i] = t.TempDir()
			}
		}
		_, errs, code := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errs, c.want)
		}
	}
}

// crossImage exercises every layer feature the listing reports.
func crossImage() fixture.Image {
	return fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{
			{Path: "etc", Type: tar.TypeDir}, {Path: "etc/conf", Body: []byte("a=1\n")},
			{Path: "etc/.env", Body: []byte("TOKEN=x\n")}, {Path: "var", Type: tar.TypeDir},
			{Path: "var/cache", Type: tar.TypeDir}, {Path: "var/cache/old", Body: []byte("old")},
			{Path: "bin", Type: tar.TypeDir}, {Path: "bin/sh", Body: []byte("#!sh"), Mode: 0o755},
			{Path: "bin/bash", Type: tar.TypeSymlink, Linkname: "sh"},
		}},
		{Compression: "none", Files: []fixture.File{
			{Path: "etc/.wh..env"}, {Path: "etc/conf", Body: []byte("a=2\n")},
		}},
		{Files: []fixture.File{
			{Path: "var/cache", Type: tar.TypeDir}, {Path: "var/cache/.wh..wh..opq"}, {Path: "var/cache/new", Body: []byte("n")},
		}},
	}}
}

// TestSameListingFromEverySource: one image read from every source strata
// supports gives byte-identical `ls --all-layers --format json`.
func TestSameListingFromEverySource(t *testing.T) {
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	fixture.WriteLayout(t, layoutDir, "v1", crossImage())
	want, errs, code := run(t, "", "ls", "--all-layers", "--format", "json", "oci:"+layoutDir+":v1")
	if code != 0 {
		t.Fatalf("oci: exit %d: %s", code, errs)
	}
	if !strings.Contains(want, `"state": "deleted"`) || !strings.Contains(want, `"state": "overwritten"`) {
		t.Fatalf("reference listing lacks deleted/overwritten states:\n%s", want)
	}
	refs := map[string][]string{}
	ociArchive := filepath.Join(dir, "oci.tar")
	fixture.OCIArchive(t, layoutDir, ociArchive)
	refs["oci-archive"] = []string{"oci-archive:" + ociArchive + ":v1"}
	legacy := filepath.Join(dir, "legacy.tar")
	fixture.DockerArchiveLegacy(t, layoutDir, "v1", legacy, "example.com/app:v1")
	refs["docker-archive legacy"] = []string{"docker-archive:" + legacy, "docker-archive:" + legacy + ":example.com/app:v1"}
	d25 := filepath.Join(dir, "d25.tar")
	fixture.DockerArchive25(t, layoutDir, "v1", d25, "example.com/app:v1")
	refs["docker-archive 25"] = []string{"docker-archive:" + d25}
	dirCopy := filepath.Join(dir, "dircopy")
	fixture.DirCopy(t, layoutDir, "v1", dirCopy)
	refs["dir"] = []string{"dir:" + dirCopy}

	type regCase struct {
		reg             *registrytest.Registry
		user            string
		pass            string
		viaDockerConfig bool
	}
	regs := map[string]regCase{}
	emb := registrytest.NewEmbedded(t, registrytest.Options{Auth: true, TLS: true})
	regs["registry v3 (TLS, basic auth)"] = regCase{reg: emb, user: emb.Username, pass: emb.Password}
	deb := registrytest.StartDebian(t, registrytest.Options{Auth: true, TLS: true})
	regs["registry 2.8 Debian (TLS, basic auth)"] = regCase{reg: deb, user: deb.Username, pass: deb.Password}
	tok := registrytest.NewEmbedded(t, registrytest.Options{Token: true})
	regs["registry v3 (bearer token, pull-only user, docker config)"] = regCase{reg: tok, user: tok.ReaderUsername, pass: tok.ReaderPassword, viaDockerConfig: true}
	for name, rc := range regs {
		registrytest.PushLayout(t, context.Background(), rc.reg, layoutDir, "v1", "team/app:v1")
		refs[name] = []string{"docker://" + rc.reg.Host + "/team/app:v1", rc.reg.Host + "/team/app:v1"}
	}
	reg := emb
	for name, rs := range refs {
		for _, r := range rs {
			a := []string{"ls", "--all-layers", "--format", "json", r}
			stdin := ""
			if rc, ok := regs[name]; ok {
				a = append(a, "--ca-file", rc.reg.CAFile)
				if rc.viaDockerConfig {
					cfgDir := t.TempDir()
					auth := base64.StdEncoding.EncodeToString([]byte(rc.user + ":" + rc.pass))
					os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+rc.reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600)
					t.Setenv("DOCKER_CONFIG", cfgDir)
				} else {
					a = append(a, "--username", rc.user, "--password-stdin")
					stdin = rc.pass + "\n"
				}
			}
			got, errs, code := run(t, stdin, a...)
			if code != 0 {
				t.Errorf("%s %s: exit %d: %s", name, r, code, errs)
				continue
			}
			if got != want {
				t.Errorf("%s %s: listing differs:\n%s\nwant\n%s", name, r, got, want)
			}
		}
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	// Without credentials the registry refuses, with a clear message.
	_, errs, code = run(t, "", "ls", "--ca-file", reg.CAFile, "docker://"+reg.Host+"/team/app:v1")
	if code != ExitError || !strings.Contains(strings.ToLower(errs), "auth") {
		t.Errorf("anonymous read: exit %d, %q", code, errs)
	}
}

// TestNoBuildArgSecretInOutput: the sample's AWS key, passed as a build
// arg, appears in no output of any command without --show-secrets.
func TestNoBuildArgSecretInOutput(t *testing.T) {
	const key = "Zt9qW3eR7tY1uI5oP8aS2dF6gH0jK4lX9cV3bN7m"
	for _, args := range [][]string{
		{"inspect", sample}, {"inspect", "-o", "json", sample}, {"history", sample}, {"history", "-o", "json", sample},
		{"scan", "--no-cache", sample}, {"scan", "--no-cache", "-o", "json", sample}, {"scan", "--no-cache", "-o", "sarif", sample},
	} {
		out, errs, _ := run(t, "", args...)
		if strings.Contains(out+errs, key) {
			t.Errorf("%v prints the build-arg secret", args)
		}
	}
}
