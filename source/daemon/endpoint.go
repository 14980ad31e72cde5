package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
)

// Endpoint is where an Engine API listens and how to reach it.
type Endpoint struct {
	// Host is a Docker host URL: unix:///path, tcp://host:port.
	Host string
	// CAFile, CertFile and KeyFile are PEM files for TLS; TLS is used when
	// any is set or TLS is true.
	CAFile, CertFile, KeyFile string
	TLS                       bool
	// SkipVerify accepts any server certificate (DOCKER_TLS_VERIFY unset
	// with TLS on, or a context's SkipTLSVerify).
	SkipVerify bool
	// From says where the endpoint came from ("DOCKER_HOST", "context
	// NAME", "default"), for error messages.
	From string
}

// Default endpoints: Docker's is the platform's (a unix socket, or a named
// pipe on Windows).
const (
	DefaultDockerHost   = client.DefaultDockerHost
	RootfulPodmanSocket = "/run/podman/podman.sock"
)

// ErrEndpoint: the environment names an endpoint that cannot be used.
var ErrEndpoint = errors.New("engine endpoint")

// DockerEndpoint finds the Docker Engine API endpoint as the docker CLI
// does: DOCKER_HOST (with DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH),
// else the context named by DOCKER_CONTEXT or the config's currentContext
// (config directory DOCKER_CONFIG or ~/.docker), else the default socket.
// getenv is os.Getenv in production.
func DockerEndpoint(getenv func(string) string) (Endpoint, error) {
	cfgDir := getenv("DOCKER_CONFIG")
	if cfgDir == "" {
		if home := homeDir(getenv); home != "" {
			cfgDir = filepath.Join(home, ".docker")
		}
	}
	if h := getenv("DOCKER_HOST"); h != "" {
		ep := Endpoint{Host: h, From: "DOCKER_HOST"}
		verify := getenv("DOCKER_TLS_VERIFY") != ""
		if verify || getenv("DOCKER_TLS") != "" {
			certs := getenv("DOCKER_CERT_PATH")
			if certs == "" {
				certs = cfgDir
			}
			ep.TLS, ep.SkipVerify = true, !verify
			ep.CAFile, ep.CertFile, ep.KeyFile = existing(certs, "ca.pem"), existing(certs, "cert.pem"), existing(certs, "key.pem")
		}
		return ep, nil
	}
	name := getenv("DOCKER_CONTEXT")
	if name == "" && cfgDir != "" {
		name = currentContext(filepath.Join(cfgDir, "config.json"))
	}
	if name == "" || name == "default" {
		return Endpoint{Host: DefaultDockerHost, From: "default"}, nil
	}
	return contextEndpoint(cfgDir, name)
}

func homeDir(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

// existing returns dir/name when that file exists, else "".
func existing(dir, name string) string {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func currentContext(configJSON string) string {
	b, err := os.ReadFile(configJSON)
	if err != nil || len(b) > 4<<20 {
		return ""
	}
	var c struct {
		CurrentContext string `json:"currentContext"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.CurrentContext
}

// contextEndpoint reads a Docker context: its metadata lives in
// contexts/meta/<sha256 of the name>/meta.json and its TLS material in
// contexts/tls/<same>/docker/{ca,cert,key}.pem.
func contextEndpoint(cfgDir, name string) (Endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(cfgDir, "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("%w: Docker context %q does not exist (no %s); docker context ls lists the contexts", ErrEndpoint, name, metaPath)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: Docker context %q: %v", ErrEndpoint, name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return Endpoint{}, fmt.Errorf("%w: Docker context %q: %s: %v", ErrEndpoint, name, metaPath, err)
	}
	d, ok := meta.Endpoints["docker"]
	if !ok || d.Host == "" {
		return Endpoint{}, fmt.Errorf("%w: Docker context %q has no docker endpoint host", ErrEndpoint, name)
	}
	ep := Endpoint{Host: d.Host, SkipVerify: d.SkipTLSVerify, From: "context " + name}
	tlsDir := filepath.Join(cfgDir, "contexts", "tls", id, "docker")
	ep.CAFile, ep.CertFile, ep.KeyFile = existing(tlsDir, "ca.pem"), existing(tlsDir, "cert.pem"), existing(tlsDir, "key.pem")
	ep.TLS = ep.CAFile != "" || ep.CertFile != "" || d.SkipTLSVerify
	return ep, nil
}

// PodmanEndpoint finds Podman's API socket as podman-remote does:
// CONTAINER_HOST, else the rootful socket for root, else the rootless one
// ($XDG_RUNTIME_DIR/podman/podman.sock, or /run/user/UID/...) when it
// exists, else the rootful one when it exists, else the rootless path (the
// error then says the service is not running). uid is os.Getuid() in
// production.
func PodmanEndpoint(getenv func(string) string, uid int) (Endpoint, error) {
	if h := getenv("CONTAINER_HOST"); h != "" {
		if strings.HasPrefix(h, "ssh://") {
			return Endpoint{}, fmt.Errorf("%w: CONTAINER_HOST=%s: ssh connections are not supported; run strata on that machine or forward the socket (ssh -L /tmp/podman.sock:/run/podman/podman.sock) and point CONTAINER_HOST at unix:///tmp/podman.sock", ErrEndpoint, h)
		}
		return Endpoint{Host: h, From: "CONTAINER_HOST"}, nil
	}
	rootful := Endpoint{Host: "unix://" + RootfulPodmanSocket, From: "the rootful default"}
	if uid == 0 {
		return rootful, nil
	}
	run := getenv("XDG_RUNTIME_DIR")
	if run == "" {
		run = fmt.Sprintf("/run/user/%d", uid)
	}
	rootless := Endpoint{Host: "unix://" + filepath.Join(run, "podman", "podman.sock"), From: "the rootless default"}
	if _, err := os.Stat(strings.TrimPrefix(rootless.Host, "unix://")); err == nil {
		return rootless, nil
	}
	if _, err := os.Stat(RootfulPodmanSocket); err == nil {
		return rootful, nil
	}
	return rootless, nil
}
