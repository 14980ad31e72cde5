package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/bcrypt"

	"github.com/stratascan/strata/registry"
)

// Options choose how a test registry is configured.
type Options struct {
	// Auth enables htpasswd Basic auth with Username/Password.
	Auth bool
	// Username and Password for Auth (defaults "strata" and a random one).
	Username, Password string
	// TLS serves HTTPS with a certificate from a CA generated for the test
	// (Registry.CAFile, Registry.CertDir). Without it the registry speaks
	// plain HTTP.
	TLS bool
	// DeleteDisabled leaves storage.delete.enabled false: every DELETE
	// answers 405 UNSUPPORTED.
	DeleteDisabled bool
	// BlobDescriptorCache sets storage.cache.blobdescriptor: inmemory (as
	// Debian's packaged config does), which serves deleted blobs after an
	// out-of-process GC until restart (distribution#2966).
	BlobDescriptorCache bool
	// ReadOnly sets storage.maintenance.readonly.enabled.
	ReadOnly bool
	// IndexBlobs lets an index list blobs that are not manifests (BuildKit's
	// index-form cache, image-manifest=false) by turning off distribution v3's
	// check that index children exist as manifests
	// (validation.manifests.indexes.platforms: none). Hub and ACR accept such
	// indexes; distribution rejects them by default.
	IndexBlobs bool
	// Token enables Bearer token auth (implies TLS): a token server in the
	// test process (TLS, test CA) issues JWTs for Username/Password with
	// every requested action, and for ReaderUsername/ReaderPassword with
	// pull only. Anonymous token requests are refused (401).
	Token bool
	// ReaderUsername and ReaderPassword name the pull-only account of Token
	// auth (defaults "reader" and a random password).
	ReaderUsername, ReaderPassword string
	// Schema1 (Debian 2.8 only) sets compatibility.schema1.enabled so that
	// signed schema 1 manifests can be pushed and pulled; see FetchSchema1.
	Schema1 bool
	// Notify configures notifications.endpoints: the registry POSTs its
	// events (pushes among them) to each endpoint.
	Notify []Endpoint
}

// Registry is a running test registry.
type Registry struct {
	// Kind is "embedded" (distribution v3 in process) or "debian"
	// (docker-registry 2.8 binary).
	Kind string
	// Host is "127.0.0.1:port".
	Host string
	// Username and Password are set when Options.Auth or Options.Token.
	Username, Password string
	// ReaderUsername and ReaderPassword are the pull-only account (Token).
	ReaderUsername, ReaderPassword string
	// CAFile is the PEM CA certificate when Options.TLS ("" otherwise).
	CAFile string
	// CertDir holds only ca.crt, for skopeo --src-cert-dir/--dest-cert-dir.
	CertDir string
	// TLS reports whether the registry speaks HTTPS.
	TLS bool
	// Root is the filesystem storage root directory.
	Root string
	// ConfigPath is the registry's config.yml (the Debian binary reads it;
	// for the embedded registry it is written for reference).
	ConfigPath string

	opts     Options
	dir      string
	ca       *testCA
	htpasswd string
	token    *tokenServer

	// embedded
	emb *embedded
	// debian
	deb *debianProc

	mu      sync.Mutex
	clients map[string]*registry.Client
}

func randomPassword() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "pw-" + hex.EncodeToString(b[:])
}

func (o Options) withDefaults() Options {
	if o.Token {
		o.TLS = true
		if o.ReaderUsername == "" {
			o.ReaderUsername = "reader"
		}
		if o.ReaderPassword == "" {
			o.ReaderPassword = randomPassword()
		}
	}
	if o.Auth || o.Token {
		if o.Username == "" {
			o.Username = "strata"
		}
		if o.Password == "" {
			o.Password = randomPassword()
		}
	}
	return o
}

// newRegistry prepares the directories, CA, htpasswd and config shared by
// both kinds; listen is the "127.0.0.1:port" for the Debian config.
func newRegistry(t testing.TB, kind string, opts Options) *Registry {
	t.Helper()
	opts = opts.withDefaults()
	dir := t.TempDir()
	r := &Registry{Kind: kind, opts: opts, dir: dir, Root: filepath.Join(dir, "storage"), TLS: opts.TLS,
		ConfigPath: filepath.Join(dir, "config.yml"), clients: map[string]*registry.Client{}}
	if err := os.MkdirAll(r.Root, 0o755); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	if opts.TLS {
		r.ca = newTestCA(t, filepath.Join(dir, "certs"))
		r.CAFile = r.ca.caFile
		r.CertDir = r.ca.dir
	}
	if opts.Token {
		r.Username, r.Password = opts.Username, opts.Password
		r.ReaderUsername, r.ReaderPassword = opts.ReaderUsername, opts.ReaderPassword
		r.token = startTokenServer(t, r)
	}
	if opts.Auth && !opts.Token {
		r.Username, r.Password = opts.Username, opts.Password
		h, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("registrytest: bcrypt: %v", err)
		}
		r.htpasswd = filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(r.htpasswd, []byte(opts.Username+":"+string(h)+"\n"), 0o600); err != nil {
			t.Fatalf("registrytest: %v", err)
		}
	}
	return r
}

// config renders a distribution config.yml understood by 2.8 and 3.x.
func (r *Registry) config(addr string, readOnly bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %q\n", r.Root)
	fmt.Fprintf(&b, "  delete:\n    enabled: %v\n", !r.opts.DeleteDisabled)
	if r.opts.BlobDescriptorCache {
		fmt.Fprintf(&b, "  cache:\n    blobdescriptor: inmemory\n")
	}
	fmt.Fprintf(&b, "  maintenance:\n    uploadpurging:\n      enabled: false\n")
	if readOnly || r.opts.ReadOnly {
		fmt.Fprintf(&b, "    readonly:\n      enabled: true\n")
	}
	if r.opts.Schema1 && r.Kind == "debian" {
		fmt.Fprintf(&b, "compatibility:\n  schema1:\n    enabled: true\n")
	}
	if r.opts.IndexBlobs && r.Kind != "debian" {
		fmt.Fprintf(&b, "validation:\n  manifests:\n    indexes:\n      platforms: none\n")
	}
	b.WriteString(notificationsYAML(r.opts.Notify))
	fmt.Fprintf(&b, "http:\n  addr: %s\n  secret: strata-test-secret\n", addr)
	if r.ca != nil {
		fmt.Fprintf(&b, "  tls:\n    certificate: %q\n    key: %q\n", r.ca.certFile, r.ca.keyFile)
	}
	if r.token != nil {
		fmt.Fprintf(&b, "auth:\n  token:\n    realm: %q\n    service: %s\n    issuer: %s\n    rootcertbundle: %q\n",
			r.token.realm(), tokenService, tokenService, r.CAFile)
	} else if r.htpasswd != "" {
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: strata-test\n    path: %q\n", r.htpasswd)
	}
	return b.String()
}

func (r *Registry) scheme() string {
	if r.TLS {
		return "https"
	}
	return "http"
}

// URL returns the registry's base URL ("https://127.0.0.1:port").
func (r *Registry) URL() string { return r.scheme() + "://" + r.Host }

// Ref returns "host/repo" + suffix, e.g. r.Ref("app", ":1.0").
func (r *Registry) Ref(repo, suffix string) string { return r.Host + "/" + repo + suffix }

// ClientOptions returns registry client options for this registry:
// credentials (when Auth), the test CA (when TLS), Insecure for plain HTTP,
// an empty keychain (the developer's docker config is never read), and
// short retry delays.
func (r *Registry) ClientOptions() registry.Options {
	return registry.Options{
		Insecure:       !r.TLS,
		CAFile:         r.CAFile,
		Username:       r.Username,
		Password:       r.Password,
		Keychain:       authn.NewMultiKeychain(),
		RetryBaseDelay: 10 * time.Millisecond,
		MaxRetryWait:   2 * time.Second,
	}
}

// Client returns a (cached) strata registry client built from ClientOptions.
func (r *Registry) Client(t testing.TB) *registry.Client {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.clients["default"]; c != nil {
		return c
	}
	c, err := registry.New(r.ClientOptions())
	if err != nil {
		t.Fatalf("registrytest: client: %v", err)
	}
	r.clients["default"] = c
	return c
}

// Repo returns a client handle on repository name of this registry.
func (r *Registry) Repo(t testing.TB, ctx context.Context, name string) *registry.Repo {
	t.Helper()
	repo, err := r.Client(t).Repo(ctx, r.Host+"/"+name)
	if err != nil {
		t.Fatalf("registrytest: repo %s: %v", name, err)
	}
	return repo
}

// SkopeoArgs returns skopeo copy flags for this registry as source (src
// true) or destination: --src-creds/--dest-creds when Auth, and
// --*-cert-dir with the test CA or --*-tls-verify=false for plain HTTP.
func (r *Registry) SkopeoArgs(src bool) []string {
	p := "--dest-"
	if src {
		p = "--src-"
	}
	var args []string
	if r.Username != "" {
		args = append(args, p+"creds="+r.Username+":"+r.Password)
	} else {
		args = append(args, p+"no-creds")
	}
	if r.TLS {
		args = append(args, p+"cert-dir="+r.CertDir)
	} else {
		args = append(args, p+"tls-verify=false")
	}
	return args
}

// probeClient trusts the test CA; used for readiness probes.
func (r *Registry) probeClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: probeTransport(r.CAFile)}
}

// waitReady polls GET /v2/ until the registry answers (200 or 401).
func (r *Registry) waitReady(t testing.TB, alive func() error) {
	t.Helper()
	hc := r.probeClient()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if alive != nil {
			if err := alive(); err != nil {
				t.Fatalf("registrytest: %s registry exited while starting: %v", r.Kind, err)
			}
		}
		resp, err := hc.Get(r.URL() + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
			last = fmt.Errorf("GET /v2/: %s", resp.Status)
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("registrytest: %s registry at %s not ready after 15s: %v", r.Kind, r.Host, last)
}
