package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/connerr"
	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/internal/enginetest"
	"github.com/stratascan/strata/internal/registrytest"
	"github.com/stratascan/strata/internal/testtool"
	"github.com/stratascan/strata/source"
	"github.com/stratascan/strata/source/daemon"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDockerEndpoint(t *testing.T) {
	cfg := t.TempDir()
	certs := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		os.WriteFile(filepath.Join(certs, f), []byte("x"), 0o600)
	}
	// A context as `docker context create remote --docker host=tcp://...,ca=...` stores it.
	sum := sha256.Sum256([]byte("remote"))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(cfg, "contexts", "meta", id)
	tlsDir := filepath.Join(cfg, "contexts", "tls", id, "docker")
	os.MkdirAll(meta, 0o700)
	os.MkdirAll(tlsDir, 0o700)
	os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.9:2376","SkipTLSVerify":false}}}`), 0o600)
	os.WriteFile(filepath.Join(tlsDir, "ca.pem"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{},"currentContext":"remote"}`), 0o600)

	cases := []struct {
		name string
		env  map[string]string
		want daemon.Endpoint
		err  bool
	}{
		{"default", map[string]string{"HOME": t.TempDir()}, daemon.Endpoint{Host: daemon.DefaultDockerHost, From: "default"}, false},
		{"DOCKER_HOST plain", map[string]string{"DOCKER_HOST": "tcp://h:2375", "DOCKER_CONFIG": cfg}, daemon.Endpoint{Host: "tcp://h:2375", From: "DOCKER_HOST"}, false},
		{"DOCKER_HOST verified TLS", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certs},
			daemon.Endpoint{Host: "tcp://h:2376", TLS: true, CAFile: filepath.Join(certs, "ca.pem"), CertFile: filepath.Join(certs, "cert.pem"), KeyFile: filepath.Join(certs, "key.pem"), From: "DOCKER_HOST"}, false},
		{"DOCKER_TLS without verify", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": t.TempDir()},
			daemon.Endpoint{Host: "tcp://h:2376", TLS: true, SkipVerify: true, From: "DOCKER_HOST"}, false},
		{"current context", map[string]string{"DOCKER_CONFIG": cfg},
			daemon.Endpoint{Host: "tcp://10.0.0.9:2376", TLS: true, CAFile: filepath.Join(tlsDir, "ca.pem"), From: "context remote"}, false},
		{"DOCKER_CONTEXT default beats config", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_CONTEXT": "default"}, daemon.Endpoint{Host: daemon.DefaultDockerHost, From: "default"}, false},
		{"DOCKER_HOST beats context", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_HOST": "unix:///x.sock"}, daemon.Endpoint{Host: "unix:///x.sock", From: "DOCKER_HOST"}, false},
		{"missing context", map[string]string{"DOCKER_CONFIG": cfg, "DOCKER_CONTEXT": "nope"}, daemon.Endpoint{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := daemon.DockerEndpoint(env(c.env))
			if c.err {
				if !errors.Is(err, daemon.ErrEndpoint) {
					t.Fatalf("got %+v, %v; want ErrEndpoint", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, c.want)
			}
		})
	}
}

func TestPodmanEndpoint(t *testing.T) {
	run := t.TempDir()
	sock := filepath.Join(run, "podman", "podman.sock")
	cases := []struct {
		name string
		env  map[string]string
		uid  int
		want string
	}{
		{"CONTAINER_HOST", map[string]string{"CONTAINER_HOST": "unix:///srv/p.sock"}, 1000, "unix:///srv/p.sock"},
		{"root", map[string]string{"XDG_RUNTIME_DIR": run}, 0, "unix://" + daemon.RootfulPodmanSocket},
		{"rootless", map[string]string{"XDG_RUNTIME_DIR": run}, 1000, "unix://" + sock},
		{"rootless without XDG_RUNTIME_DIR", map[string]string{}, 4242, "unix:///run/user/4242/podman/podman.sock"},
	}
	for _, c := range cases {
		got, err := daemon.PodmanEndpoint(env(c.env), c.uid)
		if err != nil || got.Host != c.want {
			t.Errorf("%s: got %+v, %v; want %s", c.name, got, err, c.want)
		}
	}
	if _, err := daemon.PodmanEndpoint(env(map[string]string{"CONTAINER_HOST": "ssh://u@h/run/podman/podman.sock"}), 0); !errors.Is(err, daemon.ErrEndpoint) {
		t.Errorf("ssh CONTAINER_HOST: %v, want ErrEndpoint", err)
	}
}

// TestOpenPodman: the export arrives with progress, lives in TempDir while
// the store is open and is gone after Close; a missing image is
// content.ErrNotFound; a dead socket is a classified connection error.
func TestOpenPodman(t *testing.T) {
	skopeo := testtool.Require(t, "skopeo")
	ctx := context.Background()
	pd := enginetest.StartPodman(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "img.tar")
	registrytest.Skopeo(t, ctx, skopeo, "copy", "--dest-compress", "--dest-compress-format", "gzip", "oci:../../examples/leaky-app:latest", "oci-archive:"+archive+":example.test/p:1")
	pd.Load(t, ctx, archive, "example.test/p:1")

	tmp := t.TempDir()
	var calls int
	var last, total int64
	s, err := daemon.Open(ctx, "example.test/p:1", daemon.Options{
		Endpoint: daemon.Endpoint{Host: pd.Host}, Engine: "podman", TempDir: tmp,
		Progress: func(n, tot int64) { calls++; last, total = n, tot },
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(tmp, "strata-podman-*.tar"))
	if len(files) != 1 {
		t.Fatalf("temp files while open: %v", files)
	}
	st, _ := os.Stat(files[0])
	if calls == 0 || last != st.Size() || total <= 0 {
		t.Errorf("progress: %d calls, last %d of %d; export is %d bytes", calls, last, total, st.Size())
	}
	root, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(root.Image.Layers); n != 4 {
		t.Errorf("%d layers, want 4", n)
	}
	if n, ok := s.(content.Namer); !ok || n.Name() != "podman:example.test/p:1" {
		t.Errorf("store name: %v", s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(tmp, "*")); len(files) != 0 {
		t.Errorf("left after Close: %v", files)
	}

	_, err = daemon.Open(ctx, "example.test/none:1", daemon.Options{Endpoint: daemon.Endpoint{Host: pd.Host}, Engine: "podman", TempDir: tmp})
	if !errors.Is(err, content.ErrNotFound) {
		t.Errorf("missing image: %v, want ErrNotFound", err)
	}
	_, err = daemon.Open(ctx, "x", daemon.Options{Endpoint: daemon.Endpoint{Host: "unix://" + filepath.Join(dir, "none.sock")}})
	if k, _ := connerr.KindOf(err); !errors.Is(err, daemon.ErrNoEngine) || k != connerr.NoSocket {
		t.Errorf("dead socket: %v (kind %v)", err, k)
	}
}
