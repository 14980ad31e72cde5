package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/enginetest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
)

// sampleLayout is the shipped sample as a directory path.
const sampleLayout = "../../examples/leaky-app"

// sameAsLayout runs ls --all-layers, cat of a file a later layer deleted,
// and scan on ref and on the OCI layout want, and requires the same
// output. Scan findings are compared on everything but the digests of the
// manifest and layers, which an engine that re-exports (Docker, Podman)
// legitimately changes; fullScan also requires the whole JSON to match once
// the reference is replaced (an engine that serves the stored blobs).
func sameAsLayout(t *testing.T, ref, want string, fullScan bool) {
	t.Helper()
	for _, args := range [][]string{
		{"ls", "--all-layers"},
		{"cat", "", "/app/.env"},
		{"cat", "", "/app/.ssh/id_ed25519"},
	} {
		run2 := func(r string) (string, string, int) {
			a := append([]string{}, args...)
			if a[1] == "" {
				a[1] = r
			} else {
				a = append(a, r)
			}
			return run(t, "", a...)
		}
		gotOut, gotErr, gotCode := run2(ref)
		wantOut, wantErr, wantCode := run2(want)
		if wantCode != 0 || wantOut == "" {
			t.Fatalf("%v on the layout: exit %d, %s", args, wantCode, wantErr)
		}
		if gotOut != wantOut || gotErr != wantErr || gotCode != wantCode {
			t.Errorf("%v %s differs from the OCI layout:\n--- got (exit %d)\n%s%s\n--- want (exit %d)\n%s%s", args, ref, gotCode, gotOut, gotErr, wantCode, wantOut, wantErr)
		}
	}
	got, want2 := scanJSON(t, ref), scanJSON(t, want)
	if len(want2.Findings) != 5 {
		t.Fatalf("layout scan: %d findings, want the sample's 5 (the .env's Stripe key and database URI, the SSH key, the ENV token, the build-arg AWS key)", len(want2.Findings))
	}
	// Layer results are cached by digest: the layout's were just computed.
	delete(got.Coverage, "layersFromCache")
	delete(want2.Coverage, "layersFromCache")
	if !reflect.DeepEqual(project(got), project(want2)) || !reflect.DeepEqual(got.Coverage, want2.Coverage) {
		t.Errorf("scan %s differs from the OCI layout:\n got %+v %s\nwant %+v %s", ref, project(got), got.Coverage, project(want2), want2.Coverage)
	}
	if fullScan {
		g, _, _ := run(t, "", "scan", "-o", "json", ref)
		w, _, _ := run(t, "", "scan", "-o", "json", want)
		if strings.ReplaceAll(g, ref, "REF") != strings.ReplaceAll(w, want, "REF") { // both cached now
			t.Errorf("scan -o json %s differs from the layout beyond the reference:\n%s\n%s", ref, g, w)
		}
	}
}

type scanDoc struct {
	Findings []map[string]any `json:"findings"`
	Coverage map[string]any   `json:"coverage"`
}

func scanJSON(t *testing.T, ref string) scanDoc {
	t.Helper()
	out, errs, code := run(t, "", "scan", "-o", "json", ref)
	if code != ExitFindings {
		t.Fatalf("scan %s: exit %d (want %d): %s", ref, code, ExitFindings, errs)
	}
	var d scanDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("scan %s: %v\n%s", ref, err, out)
	}
	return d
}

// project drops the fields naming the reference or digests an engine
// re-encodes.
func project(d scanDoc) []map[string]any {
	var out []map[string]any
	for _, f := range d.Findings {
		m := map[string]any{}
		for k, v := range f {
			switch k {
			case "image", "manifest", "layerDigest":
			default:
				m[k] = v
			}
		}
		out = append(out, m)
	}
	return out
}

// TestPodmanEngine: the sample, loaded into a real Podman, read through
// its Engine-compatible API as podman: (CONTAINER_HOST) and as
// docker-daemon: (DOCKER_HOST at Podman's socket, the Docker Engine API
// path), and from its store directly as containers-storage:, gives what the
// same image gives from an OCI layout.
func TestPodmanEngine(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	ctx := context.Background()
	pd := enginetest.StartPodman(t)
	dir := t.TempDir()
	gz := gzipSample(t, ctx, skopeo, dir) // Podman exports docker-archive
	archive := filepath.Join(dir, "gz.tar")
	registrytest.Skopeo(t, ctx, skopeo, "copy", "oci:"+gz+":latest", "oci-archive:"+archive+":example.test/leaky:1")
	pd.Load(t, ctx, archive, "example.test/leaky:1")

	t.Setenv("CONTAINER_HOST", pd.Host)
	t.Setenv("DOCKER_HOST", pd.Host)
	t.Setenv("TMPDIR", t.TempDir())
	refs := []string{"podman:example.test/leaky:1", "docker-daemon:example.test/leaky:1",
		// The same store read directly, no service involved.
		"containers-storage:[vfs@" + pd.Root + "]example.test/leaky:1"}
	for _, ref := range refs {
		t.Run(ref, func(t *testing.T) { sameAsLayout(t, ref, "oci:"+gz+":latest", false) })
	}
	// Every export was removed when its store closed.
	if left, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), "strata-*")); len(left) > 0 {
		t.Errorf("temporary exports left behind: %v", left)
	}
	_, errs, code := run(t, "", "ls", "podman:example.test/nosuch:1")
	if code != ExitError || !strings.Contains(errs, "not found") || !strings.Contains(errs, "example.test/nosuch:1") {
		t.Errorf("missing image: exit %d, %q", code, errs)
	}
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "none.sock"))
	_, errs, code = run(t, "", "ls", "docker-daemon:example.test/leaky:1")
	if code != ExitError || !strings.Contains(errs, "no such socket") || !strings.Contains(errs, "DOCKER_HOST") || strings.Contains(errs, "\n") {
		t.Errorf("no daemon: exit %d, %q", code, errs)
	}
}

// TestContainerdEngine: the sample imported into a real containerd with
// ctr, read blob by blob from its content store in a non-default
// namespace, gives exactly what the OCI layout gives.
func TestContainerdEngine(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	ctx := context.Background()
	cd := enginetest.StartContainerd(t)
	archive := filepath.Join(t.TempDir(), "sample.tar")
	registrytest.Skopeo(t, ctx, skopeo, "copy", "oci:"+sampleLayout+":latest", "oci-archive:"+archive+":latest")
	cd.Import(t, ctx, "strata-test", archive, "example.test/leaky")

	t.Setenv("CONTAINERD_ADDRESS", cd.Socket)
	t.Setenv("CONTAINERD_NAMESPACE", "strata-test")
	sameAsLayout(t, "containerd:example.test/leaky:latest", sample, true)

	// The image by its target digest, as ctr images ls shows it.
	byName, _, _ := run(t, "", "ls", "containerd:example.test/leaky:latest")
	byDigest, errs, code := run(t, "", "ls", "containerd:sha256:330e45178f937bbf46fd599e087f676d3b7446af95ebc5023a83012d302e0b19")
	if code != 0 || byDigest != byName {
		t.Errorf("by digest: exit %d %s\n%s", code, errs, byDigest)
	}
	// The namespace flag overrides the environment: the image is not in "default".
	_, errs, code = run(t, "", "ls", "--containerd-namespace", "default", "containerd:example.test/leaky:latest")
	if code != ExitError || !strings.Contains(errs, `namespace "default"`) || !strings.Contains(errs, "not found") {
		t.Errorf("other namespace: exit %d, %q", code, errs)
	}
	_, errs, code = run(t, "", "ls", "containerd:example.test/nosuch")
	if code != ExitError || !strings.Contains(errs, "example.test/leaky:latest") {
		t.Errorf("missing image: exit %d, %q (want the images it holds listed)", code, errs)
	}
	t.Setenv("CONTAINERD_ADDRESS", filepath.Join(t.TempDir(), "none.sock"))
	_, errs, code = run(t, "", "ls", "containerd:example.test/leaky:latest")
	if code != ExitError || !strings.Contains(errs, "no such socket") || !strings.Contains(errs, "CONTAINERD_ADDRESS") {
		t.Errorf("no daemon: exit %d, %q", code, errs)
	}
}

// TestDockerEngine: the sample, loaded with docker load into a real dockerd
// (its own data root, the test's containerd), read as docker-daemon:
// through DOCKER_HOST, gives what the same image gives from an OCI layout.
func TestDockerEngine(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	ctx := context.Background()
	cd := enginetest.StartContainerd(t)
	dd := enginetest.StartDockerd(t, cd)
	dir := t.TempDir()
	gz := gzipSample(t, ctx, skopeo, dir)
	archive := filepath.Join(dir, "img.tar")
	registrytest.Skopeo(t, ctx, skopeo, "copy", "oci:"+gz+":latest", "docker-archive:"+archive+":example.test/leaky:1")
	dd.Load(t, ctx, archive)

	t.Setenv("DOCKER_HOST", dd.Host)
	t.Setenv("DOCKER_CONTEXT", "")
	sameAsLayout(t, "docker-daemon:example.test/leaky:1", "oci:"+gz+":latest", false)
	_, errs, code := run(t, "", "ls", "docker-daemon:example.test/nosuch:1")
	if code != ExitError || !strings.Contains(errs, "not found") {
		t.Errorf("missing image: exit %d, %q", code, errs)
	}
}

// gzipSample copies the sample into an OCI layout under dir with its layers
// recompressed with gzip, and returns the layout's path: an engine that
// exports docker-archive (Docker, Podman) cannot carry zstd layers, so this
// is the layout such an engine's output is compared with.
func gzipSample(t *testing.T, ctx context.Context, skopeo, dir string) string {
	t.Helper()
	gz := filepath.Join(dir, "gz")
	registrytest.Skopeo(t, ctx, skopeo, "copy", "--dest-compress", "--dest-compress-format", "gzip", "oci:"+sampleLayout+":latest", "oci:"+gz+":latest")
	return gz
}
