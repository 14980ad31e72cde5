package secret

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/crypto/ssh"
)

var (
	engOnce sync.Once
	engDef  *Engine
	engErr  error
)

// defaultEngine is shared by tests that use the default ruleset.
func defaultEngine(t testing.TB) *Engine {
	t.Helper()
	engOnce.Do(func() { engDef, engErr = New(Options{}) })
	if engErr != nil {
		t.Fatal(engErr)
	}
	return engDef
}

// rnd returns a deterministic random string over alphabet.
func rnd(seed uint64, n int, alphabet string) string {
	r := mrand.New(mrand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b32    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64chr = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func scanAll(t testing.TB, e *Engine, path string, content []byte) ([]Match, FileStats) {
	t.Helper()
	var ms []Match
	st, err := e.ScanFile(context.Background(), path, int64(len(content)), bytes.NewReader(content), func(m Match) { ms = append(ms, m) })
	if err != nil {
		t.Fatalf("ScanFile(%s): %v", path, err)
	}
	return ms, st
}

func pemKey(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case "RSA":
		k, _ := rsa.GenerateKey(rand.Reader, 1024)
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	case "EC":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := x509.MarshalECPrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}))
	case "PKCS8":
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		b, _ := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}))
	case "OPENSSH":
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		blk, err := ssh.MarshalPrivateKey(k, "test@example")
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(blk))
	case "ENCRYPTED":
		body := make([]byte, 600)
		rand.Read(body)
		return string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: body}))
	case "DSA":
		body := make([]byte, 440)
		rand.Read(body)
		return string(pem.EncodeToMemory(&pem.Block{Type: "DSA PRIVATE KEY", Bytes: body}))
	case "RSA-LEGACY-ENCRYPTED":
		k, _ := rsa.GenerateKey(rand.Reader, 1024)
		//lint:ignore SA1019 legacy encrypted PEM keys are still found in images; the test needs one
		blk, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), []byte("pw"), x509.PEMCipherAES128)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(blk))
	case "PGP":
		body := make([]byte, 900)
		rand.Read(body)
		enc := base64.StdEncoding.EncodeToString(body)
		var b strings.Builder
		b.WriteString("-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n")
		for len(enc) > 64 {
			b.WriteString(enc[:64] + "\n")
			enc = enc[64:]
		}
		b.WriteString(enc + "\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----\n")
		return b.String()
	}
	t.Fatalf("unknown key kind %s", kind)
	return ""
}

func bcryptLike() string { return "$2y$05$" + rnd(11, 53, "./"+alnum) }

// TestTruePositives: every strata rule and a sample of gitleaks rules find
// their secret, with the right secret value and a redaction that hides it.
func TestTruePositives(t *testing.T) {
	e := defaultEngine(t)
	awsSecret := rnd(1, 40, alnum+"/+")
	npmTok := rnd(2, 8, "0123456789abcdef") + "-" + rnd(3, 4, "0123456789abcdef") + "-4" + rnd(4, 3, "0123456789abcdef") + "-a" + rnd(5, 3, "0123456789abcdef") + "-" + rnd(6, 12, "0123456789abcdef")
	ghp := "ghp_" + rnd(3, 36, alnum)
	kubeKey := base64.StdEncoding.EncodeToString([]byte(pemKey(t, "EC")))
	dockerAuth := base64.StdEncoding.EncodeToString([]byte("robot:" + rnd(4, 24, alnum)))
	type tc struct {
		name, path, content, rule, secret string
	}
	cases := []tc{
		{"aws access key", "app/config.py", "AWS_KEY = 'AKIA" + rnd(5, 16, b32) + "'\n", "aws-access-token", "AKIA" + rnd(5, 16, b32)},
		{"github pat", "src/main.go", "const tok = \"" + ghp + "\"\n", "github-pat", ghp},
		{"slack bot", "bot.yaml", "slack: xoxb-2614739805-3827164059213-" + rnd(6, 24, alnum) + "\n", "slack-bot-token", "xoxb-2614739805-3827164059213-" + rnd(6, 24, alnum)},
		{"stripe", "pay.js", "stripe.key = \"sk_live_" + rnd(7, 24, alnum) + "\";\n", "stripe-access-token", "sk_live_" + rnd(7, 24, alnum)},
		{"generic api key", "settings.ini", "api_key = " + rnd(8, 32, alnum) + "\n", "generic-api-key", rnd(8, 32, alnum)},
		{"aws credentials", "root/.aws/credentials", "[default]\naws_access_key_id = AKIA" + rnd(9, 16, b32) + "\naws_secret_access_key = " + awsSecret + "\n", "aws-secret-access-key", awsSecret},
		{"npmrc token", "home/u/.npmrc", "//registry.npmjs.org/:_authToken=" + npmTok + "\n", "npm-auth-token", npmTok},
		{"npmrc _auth", "root/.npmrc", "_auth = " + base64.StdEncoding.EncodeToString([]byte("me:hunter22")) + "\n", "npmrc-credentials", base64.StdEncoding.EncodeToString([]byte("me:hunter22"))},
		{"npmrc _password", "root/.npmrc", "//reg.example.com/:_password=aHVudGVyMjI=\n", "npmrc-credentials", "aHVudGVyMjI="},
		{"pypirc", "root/.pypirc", "[pypi]\nusername = __token__\npassword = Tr0ub4dor&3xyz\n", "pypirc-password", "Tr0ub4dor&3xyz"},
		{"netrc", "root/.netrc", "machine example.com login me password s3cr3tPassw0rd\n", "netrc-password", "s3cr3tPassw0rd"},
		{"git credentials", "root/.git-credentials", "https://bob:" + ghp[:20] + "Zz@github.com\n", "git-credentials", ghp[:20] + "Zz"},
		{"docker auth", "root/.docker/config.json", "{\n  \"auths\": {\n    \"registry.example.com\": {\n      \"auth\": \"" + dockerAuth + "\"\n    }\n  }\n}\n", "docker-config-auth", dockerAuth},
		{"kubeconfig client key", "root/.kube/config", "users:\n- name: admin\n  user:\n    client-key-data: " + kubeKey + "\n", "kubeconfig-client-key", kubeKey},
		{"kubeconfig token", "root/.kube/config", "users:\n- name: sa\n  user:\n    token: " + rnd(10, 40, alnum) + "\n", "kubeconfig-token", rnd(10, 40, alnum)},
		{"dotenv", "srv/app/.env", "DEBUG=true\nDATABASE_PASSWORD=Xk3Lm9Qp2Rs\n", "dotenv-secret", "Xk3Lm9Qp2Rs"},
		{"dotenv quoted", "srv/app/.env.production", "export STRIPE_SECRET=\"hunter2hunter2\"\n", "dotenv-secret", "hunter2hunter2"},
		{"tfstate", "infra/terraform.tfstate", "{\n  \"attributes\": {\n    \"password\": \"P4ssw0rd-" + rnd(12, 8, alnum) + "\"\n  }\n}\n", "terraform-state-secret", "P4ssw0rd-" + rnd(12, 8, alnum)},
		{"htpasswd bcrypt", "etc/nginx/htpasswd", "admin:" + bcryptLike() + "\n", "htpasswd-hash", bcryptLike()},
		{"htpasswd apr1", "auth/htpasswd", "bob:$apr1$" + rnd(13, 8, alnum) + "$" + rnd(14, 22, alnum) + "\n", "htpasswd-hash", "$apr1$" + rnd(13, 8, alnum) + "$" + rnd(14, 22, alnum)},
		{"htpasswd sha", "auth/.htpasswd", "carol:{SHA}" + rnd(15, 27, b64chr) + "=\n", "htpasswd-hash", "{SHA}" + rnd(15, 27, b64chr) + "="},
		{"shadow", "etc/shadow", "root:$6$" + rnd(16, 16, alnum) + "$" + rnd(17, 86, alnum+"./") + ":19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", "shadow-hash", "$6$" + rnd(16, 16, alnum) + "$" + rnd(17, 86, alnum+"./")},
		{"putty", "home/u/key.ppk", "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: k\nPublic-Lines: 1\nAAAAB3NzaC1yc2EAAAABJQAAAIEAhKl\nPrivate-Lines: 2\n" + rnd(18, 64, b64chr) + "\n" + rnd(19, 40, b64chr) + "\nPrivate-MAC: 1234\n", "putty-private-key", rnd(18, 64, b64chr) + "\n" + rnd(19, 40, b64chr)},
	}
	for _, kind := range []string{"RSA", "EC", "PKCS8", "OPENSSH", "ENCRYPTED", "DSA", "RSA-LEGACY-ENCRYPTED", "PGP"} {
		key := pemKey(t, kind)
		cases = append(cases, tc{"private key " + kind, "home/u/.ssh/id_" + strings.ToLower(kind), "# key\n" + key, "private-key", ""})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, _ := scanAll(t, e, c.path, []byte(c.content))
			var got *Match
			for i := range ms {
				if ms[i].RuleID == c.rule {
					got = &ms[i]
				}
			}
			if got == nil {
				t.Fatalf("rule %s did not fire on %q; got %+v", c.rule, c.content, ms)
			}
			if c.secret != "" && got.Secret != c.secret {
				t.Errorf("secret = %q, want %q", got.Secret, c.secret)
			}
			checkMatch(t, *got)
			if got.Line < 1 {
				t.Errorf("line = %d", got.Line)
			}
		})
	}
}

// checkMatch: the redaction never contains the secret and the fingerprint is
// the sha256 of the secret.
func checkMatch(t testing.TB, m Match) {
	t.Helper()
	if m.Secret == "" {
		return
	}
	if strings.Contains(m.Redacted, m.Secret) {
		t.Errorf("%s: redacted %q contains the secret", m.RuleID, m.Redacted)
	}
	if !strings.Contains(m.Redacted, "<redacted:") {
		t.Errorf("%s: redacted %q has no marker", m.RuleID, m.Redacted)
	}
	sum := sha256.Sum256([]byte(m.Secret))
	if m.Fingerprint != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("%s: fingerprint %s is not sha256 of the secret", m.RuleID, m.Fingerprint)
	}
	if m.Severity == "" || SeverityRank(m.Severity) == 0 {
		t.Errorf("%s: bad severity %q", m.RuleID, m.Severity)
	}
}

// TestPrivateKeyRedaction: the PEM armor stays readable, the body is masked.
func TestPrivateKeyRedaction(t *testing.T) {
	ms, _ := scanAll(t, defaultEngine(t), "id_rsa", []byte(pemKey(t, "RSA")))
	if len(ms) != 1 {
		t.Fatalf("want 1 finding, got %+v", ms)
	}
	if !strings.HasPrefix(ms[0].Redacted, `-----BEGIN RSA PRIVATE KEY-----\n<redacted:`) || !strings.HasSuffix(ms[0].Redacted, "-----END RSA PRIVATE KEY-----") {
		t.Errorf("redacted = %q", ms[0].Redacted)
	}
	if ms[0].Severity != SeverityCritical {
		t.Errorf("severity = %s", ms[0].Severity)
	}
}

// TestTrueNegatives: placeholders, documentation examples, locked shadow
// entries and ordinary config produce nothing.
func TestTrueNegatives(t *testing.T) {
	e := defaultEngine(t)
	cases := []struct{ name, path, content string }{
		{"aws doc example", "usr/share/doc/awscli/README", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"},
		{"shadow locked", "etc/shadow", "root:*:19000:0:99999:7:::\ndaemon:!:19000::::::\nbin:!!:19000::::::\nsys:x:19000::::::\nnobody::19000::::::\n"},
		{"gshadow", "etc/gshadow", "root:*::\nadm:*::syslog\n"},
		{"env placeholders", "app/.env", "API_KEY=changeme\nSECRET_KEY=${SECRET_KEY}\nDB_PASSWORD=\nTOKEN=<your-token>\nPASSWORD=password\nGPG_KEY=A4A9406876FCBD3C456770C88C718D3B5072E1F5\nKEY_FILE=/etc/ssl/key.pem\n"},
		{"pem placeholder", "docs/ssl.txt", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n"},
		{"public key", "etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@host\n"},
		{"sshd_config", "etc/ssh/sshd_config", "PasswordAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\nHostKey /etc/ssh/ssh_host_rsa_key\n"},
		{"pypirc env ref", "root/.pypirc", "[pypi]\npassword = %(PYPI_PASSWORD)s\n"},
		{"prose", "usr/share/doc/x/README", "The key to success is a token of appreciation; the password is stored in the keyring.\n"},
		{"gpg key env", "config", "ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D\n"},
		{"cipher transformation", "etc/java-17-openjdk/security/java.security", "jdk.tls.keyLimits=AES/GCM/NoPadding KeyUpdate 2^37, \\\n"},
		{"changelog word/word", "usr/share/doc/x/changelog", "    - [s390x] pkey: fix/harmonize internal keyblob headers\n"},
		{"identifier list", "NEWS", "gnutls_pkcs11_copy_x509_privkey2,\n   gnutls_pkcs11_privkey_generate3\n"},
		{"shell redirect", "examples/sign1.c", " *   ./sign1 sign1-tmpl.xml rsakey.pem > sign1-res.xml\n"},
		{"uuid url", "NEWS", "  tpmkey:uuid=7f468c16-cb7f-11e1-824d-b3a4f4b20343;storage=user\n"},
		{"hpkp pin", "app.js", "const pins = { key: 'pin-sha256: AbCdEf0123456789AbCdEf0123456789AbCdEf01234=' }\n"},
		{"jwt in docs", "usr/share/doc/python3-jwt/README.rst", "    eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzb21lIjoicGF5bG9hZCJ9.4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg\n"},
		{"python attribute", "x.whl!msvccompiler.py", "        RegEnumKey = win32api.RegEnumKey\n"},
		{"vim keymap", "usr/share/vim/vim90/keymap/croatian_cp1250.vim", "let b:keymap_name = \"croatian-cp1250\"\n"},
		{"gitleaks allow", "app/conf.py", "api_key = \"" + rnd(30, 32, alnum) + "\" # gitleaks:allow\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, _ := scanAll(t, e, c.path, []byte(c.content))
			for _, m := range ms {
				t.Errorf("unexpected %s at %s:%d: %s", m.RuleID, m.Path, m.Line, m.Redacted)
			}
		})
	}
}

// TestChunkBoundary: a secret placed across each position around the
// buffer boundaries is found exactly once, on the right line.
func TestChunkBoundary(t *testing.T) {
	e := defaultEngine(t)
	ghp := "ghp_" + rnd(40, 36, alnum)
	key := pemKey(t, "RSA")
	boundary := keepBefore + chunkSize // first buffer's processing limit
	second := boundary + (chunkSize + keepAfter)
	for _, at := range []int{boundary - 30, boundary - 4, boundary - 1, boundary, boundary + 3, second - 20, second + 1, chunkSize - 2} {
		for _, secret := range []string{ghp, key} {
			filler := bytes.Repeat([]byte("lorem ipsum dolor sit amet\n"), (at+2*chunkSize)/27+1)
			// place the secret so that it starts some bytes before "at"
			start := at - len(secret)/2
			lineStart := bytes.LastIndexByte(filler[:start], '\n') + 1
			content := append([]byte{}, filler[:lineStart]...)
			content = append(content, secret...)
			content = append(content, '\n')
			content = append(content, filler[lineStart:]...)
			wantLine := bytes.Count(content[:lineStart], []byte("\n")) + 1
			ms, st := scanAll(t, e, "f.txt", content)
			if st.Bytes != int64(len(content)) {
				t.Errorf("scanned %d of %d bytes", st.Bytes, len(content))
			}
			var n int
			for _, m := range ms {
				n++
				if m.Line != wantLine {
					t.Errorf("at %d: %s on line %d, want %d", at, m.RuleID, m.Line, wantLine)
				}
			}
			if n != 1 {
				t.Errorf("at %d (%d bytes secret): %d findings, want 1: %+v", at, len(secret), n, ms)
			}
		}
	}
}

func tarBytes(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range sortedKeys(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	tw.Close()
	return b.Bytes()
}

func zipBytes(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range sortedKeys(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	zw.Close()
	return b.Bytes()
}

func gzBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// TestArchives: zip inside tar.gz is opened and named outer!inner!file;
// deeper nesting is reported, not opened; plain .gz is opened.
func TestArchives(t *testing.T) {
	e := defaultEngine(t)
	ghp := "ghp_" + rnd(50, 36, alnum)
	inner := zipBytes(t, map[string][]byte{"config/app.properties": []byte("token=" + ghp + "\n"), "bin/tool": append([]byte("\x7fELF"), ghp...)})
	deep := zipBytes(t, map[string][]byte{"deep.zip": zipBytes(t, map[string][]byte{"x.txt": []byte(ghp + "\n")})})
	outer := gzBytes(tarBytes(t, map[string][]byte{"opt/app.zip": inner, "opt/nest.zip": deep, "README": []byte("nothing\n")}))
	ms, st := scanAll(t, e, "srv/bundle.tar.gz", outer)
	var paths []string
	for _, m := range ms {
		paths = append(paths, m.Path+":"+m.RuleID)
	}
	want := "srv/bundle.tar.gz!opt/app.zip!config/app.properties:github-pat"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("findings %v, want [%s]", paths, want)
	}
	if st.ArchiveMembers < 5 {
		t.Errorf("archive members = %d, want >= 5 (3 tar + 2 zip + 1 nested zip)", st.ArchiveMembers)
	}
	if !strings.Contains(st.SkipReason, "nested deeper") {
		t.Errorf("skip reason %q does not report the nested archive", st.SkipReason)
	}
	// a gzip-compressed text file
	ms, _ = scanAll(t, e, "usr/share/doc/x/notes.txt.gz", gzBytes([]byte("x\nnpm: _authToken="+ghp+"\n")))
	if len(ms) != 1 || ms[0].Path != "usr/share/doc/x/notes.txt.gz!notes.txt" || ms[0].Line != 2 {
		t.Errorf("gz findings %+v", ms)
	}
	// MaxArchiveDepth -1: archives are not opened
	e2, err := New(Options{MaxArchiveDepth: -1})
	if err != nil {
		t.Fatal(err)
	}
	ms, st = scanAll(t, e2, "srv/bundle.tar.gz", outer)
	if len(ms) != 0 || !st.Skipped {
		t.Errorf("depth -1: %+v %+v", ms, st)
	}
	// corrupt archives are reported, not errors
	_, st = scanAll(t, e, "x.zip", []byte("PK\x03\x04garbage"))
	if st.SkipReason == "" {
		t.Errorf("corrupt zip: no skip reason: %+v", st)
	}
	_, st = scanAll(t, e, "x.gz", []byte{0x1f, 0x8b, 8, 0, 0, 0})
	if st.SkipReason == "" {
		t.Errorf("corrupt gzip: no skip reason: %+v", st)
	}
}

// TestBinary: binaries are skipped unless ScanBinaries; keystores are found
// by name with the content's sha256 as fingerprint.
func TestBinary(t *testing.T) {
	ghp := "ghp_" + rnd(60, 36, alnum)
	elf := append([]byte("\x7fELF\x02\x01\x01\x00"), bytes.Repeat([]byte{0, 1, 2}, 100)...)
	elf = append(elf, "\ntoken "+ghp+"\n"...)
	ms, st := scanAll(t, defaultEngine(t), "usr/bin/tool", elf)
	if len(ms) != 0 || !st.Skipped || !st.Binary || !strings.Contains(st.SkipReason, "ELF") {
		t.Errorf("binary: %+v %+v", ms, st)
	}
	eb, err := New(Options{ScanBinaries: true})
	if err != nil {
		t.Fatal(err)
	}
	if eb.RulesetHash() == defaultEngine(t).RulesetHash() {
		t.Error("ScanBinaries does not change the ruleset hash")
	}
	ms, st = scanAll(t, eb, "usr/bin/tool", elf)
	if len(ms) != 1 || ms[0].RuleID != "github-pat" || st.Skipped {
		t.Errorf("ScanBinaries: %+v %+v", ms, st)
	}
	p12 := []byte{0x30, 0x82, 0x0a, 0x00, 0x02, 0x01, 0x03}
	ms, _ = scanAll(t, defaultEngine(t), "opt/app/certs/client.p12", p12)
	sum := sha256.Sum256(p12)
	if len(ms) != 1 || ms[0].RuleID != "pkcs12-file" || ms[0].Fingerprint != "sha256:"+hex.EncodeToString(sum[:]) || ms[0].Line != 0 {
		t.Errorf("p12: %+v", ms)
	}
	ms, _ = scanAll(t, defaultEngine(t), "opt/app/server.jks", []byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2})
	if len(ms) != 1 || ms[0].RuleID != "java-keystore-file" {
		t.Errorf("jks: %+v", ms)
	}
}

// TestIgnoreFile: fingerprints, rule IDs and path globs suppress findings,
// and the ignore file is part of the ruleset hash.
func TestIgnoreFile(t *testing.T) {
	ghp := "ghp_" + rnd(70, 36, alnum)
	other := "ghp_" + rnd(71, 36, alnum)
	dir := t.TempDir()
	ign := filepath.Join(dir, "ignore")
	os.WriteFile(ign, []byte("# test\n"+"fingerprint:"+Fingerprint(ghp)+"\nrule:slack-bot-token\npath:vendor/**\npath:**/*.jar\n"), 0o644)
	e, err := New(Options{IgnoreFile: ign})
	if err != nil {
		t.Fatal(err)
	}
	if e.RulesetHash() == defaultEngine(t).RulesetHash() {
		t.Error("ignore file does not change the ruleset hash")
	}
	check := func(path, content string, want int) {
		t.Helper()
		ms, _ := scanAll(t, e, path, []byte(content))
		if len(ms) != want {
			t.Errorf("%s: %d findings, want %d: %+v", path, len(ms), want, ms)
		}
	}
	check("a.txt", ghp+"\n", 0)
	check("a.txt", other+"\n", 1)
	check("a.txt", "xoxb-2614739805-3827164059213-"+rnd(72, 24, alnum)+"\n", 0)
	check("vendor/x/y/z.txt", other+"\n", 0)
	check("/vendor/z.txt", other+"\n", 0)
	check("src/vendor.txt", other+"\n", 1)
	jar := zipBytes(t, map[string][]byte{"META-INF/x.properties": []byte(other + "\n")})
	check("opt/lib/app.jar", string(jar), 0)
	check("opt/lib/app.zip", string(jar), 1)
	os.WriteFile(ign, []byte("bogus line\n"), 0o644)
	if _, err := New(Options{IgnoreFile: ign}); !errors.Is(err, ErrBadRules) {
		t.Errorf("bad ignore file: err = %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pat, name string
		want      bool
	}{
		{"**", "a/b/c", true}, {"a/**", "a", true}, {"a/**/c", "a/c", true}, {"a/**/c", "a/b/x/c", true},
		{"a/*/c", "a/b/x/c", false}, {"*.txt", "a/b.txt", false}, {"**/*.txt", "a/b.txt", true},
		{"usr/share/doc/**", "usr/share/doc/x/y", true}, {"etc/?asswd", "etc/passwd", true},
	} {
		if got := globMatch(c.pat, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pat, c.name, got)
		}
	}
}

// TestPattern: --pattern adds a custom rule with a keyword from its literal prefix.
func TestPattern(t *testing.T) {
	e, err := New(Options{Patterns: []string{`FLAG\{[^}]+\}`, `(?i)[0-9a-f]{8}-secret`}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range e.Rules() {
		if r.Source == "pattern" {
			ids = append(ids, r.ID+"="+strings.Join(r.Keywords, ","))
		}
	}
	if strings.Join(ids, " ") != "custom-pattern-1=flag{ custom-pattern-2=" {
		t.Errorf("pattern rules: %v", ids)
	}
	ms, _ := scanAll(t, e, "ctf.txt", []byte("x\nthe FLAG{s3cr3t_fl4g} is here\nand deadbeef-SECRET too\n"))
	if len(ms) != 2 || ms[0].Secret != "FLAG{s3cr3t_fl4g}" || ms[0].RuleID != "custom-pattern-1" || ms[0].Line != 2 ||
		ms[1].Secret != "deadbeef-SECRET" || ms[1].Line != 3 {
		t.Errorf("findings %+v", ms)
	}
	if _, err := New(Options{Patterns: []string{"(unclosed"}}); !errors.Is(err, ErrBadRules) {
		t.Errorf("bad pattern: err = %v", err)
	}
}

// TestRulesFile: extra rules in gitleaks TOML with a severity; bad files fail
// with ErrBadRules and a useful message.
func TestRulesFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.toml")
	os.WriteFile(good, []byte(`
[[rules]]
id = "acme-token"
description = "ACME internal token"
regex = '''acme_[a-z0-9]{20}'''
keywords = ["acme_"]
severity = "critical"
`), 0o644)
	e, err := New(Options{RulesFiles: []string{good}})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := scanAll(t, e, "x", []byte("t = acme_"+rnd(80, 20, "abcdefghijklmnopqrstuvwxyz0123456789")+"\n"))
	if len(ms) != 1 || ms[0].RuleID != "acme-token" || ms[0].Severity != "critical" {
		t.Errorf("findings %+v", ms)
	}
	for name, text := range map[string]string{
		"regex":    "[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n",
		"toml":     "[[rules]\nid=",
		"severity": "[[rules]]\nid = \"x\"\nregex = 'x'\nseverity = \"urgent\"\n",
		"extend":   "[extend]\nuseDefault = true\n",
		"empty":    "[[rules]]\nid = \"x\"\n",
	} {
		p := filepath.Join(dir, name+".toml")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := New(Options{RulesFiles: []string{p}}); !errors.Is(err, ErrBadRules) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestScanText: config locations; the dotenv rule applies to config:env.
func TestScanText(t *testing.T) {
	e := defaultEngine(t)
	var ms []Match
	e.ScanText(context.Background(), "config:env", "PATH=/usr/bin\nDB_PASSWORD=Xk3Lm9Qp2Rs\n", func(m Match) { ms = append(ms, m) })
	if len(ms) != 1 || ms[0].RuleID != "dotenv-secret" || ms[0].Path != "config:env" || ms[0].Line != 2 || ms[0].Redacted != "DB_PASSWORD=<redacted:11 chars>" {
		t.Errorf("env: %+v", ms)
	}
	ms = nil
	ghp := "ghp_" + rnd(90, 36, alnum)
	e.ScanText(context.Background(), "config:history[3]", "RUN /bin/sh -c curl -H 'Authorization: token "+ghp+"' https://api.github.com", func(m Match) { ms = append(ms, m) })
	found := false
	for _, m := range ms {
		checkMatch(t, m)
		if m.Secret == ghp {
			found = true
		}
	}
	if !found {
		t.Errorf("history: %+v", ms)
	}
}

// TestLimits: MaxFileBytes truncates (reported), FileTimeout stops a scan
// (reported, not an error), cancellation is an error.
func TestLimits(t *testing.T) {
	e, err := New(Options{MaxFileBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	content := append(bytes.Repeat([]byte("a\n"), 1000), "ghp_"+rnd(100, 36, alnum)+"\n"...)
	ms, st := scanAll(t, e, "big.txt", content)
	if len(ms) != 0 || st.Bytes != 1000 || !strings.Contains(st.SkipReason, "first 1000 bytes") {
		t.Errorf("truncation: %+v %+v", ms, st)
	}
	et, err := New(Options{FileTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowReader{data: bytes.Repeat([]byte("api_key = "+rnd(101, 20, alnum)+"\n"), 1<<14)}
	st, err = et.ScanFile(context.Background(), "slow.txt", -1, slow, nil)
	if err != nil || !st.TimedOut {
		t.Errorf("timeout: %+v %v", st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := defaultEngine(t).ScanFile(ctx, "x", 1, strings.NewReader("x"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// slowReader returns data a few bytes at a time, slowly.
type slowReader struct{ data []byte }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, fmt.Errorf("unexpected: %w", errors.ErrUnsupported)
	}
	time.Sleep(200 * time.Microsecond)
	n := copy(p[:min(len(p), 4096)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestRulesetHash: stable across engines, changes with rules.
func TestRulesetHash(t *testing.T) {
	a, _ := New(Options{})
	b, _ := New(Options{})
	c, _ := New(Options{Patterns: []string{"x+y"}})
	if a.RulesetHash() != b.RulesetHash() || a.RulesetHash() == c.RulesetHash() || !strings.HasPrefix(a.RulesetHash(), "sha256:") {
		t.Errorf("hashes %s %s %s", a.RulesetHash(), b.RulesetHash(), c.RulesetHash())
	}
	if n := len(a.Rules()); n < 230 {
		t.Errorf("only %d rules", n)
	}
}

// TestRedactionNeverRevealsSecret is a property test over many generated
// findings, including secrets that repeat inside their match.
func TestRedactionNeverRevealsSecret(t *testing.T) {
	for i := range 2000 {
		r := mrand.New(mrand.NewPCG(uint64(i), 1))
		secret := rnd(uint64(i), 1+r.IntN(20), "ab<>:redacted0123456789 \n")
		var match strings.Builder
		for range r.IntN(5) {
			match.WriteString(rnd(uint64(i*7+match.Len()), r.IntN(8), "ab<>:x\n"))
			match.WriteString(secret)
		}
		red := redact(match.String(), secret)
		if strings.Contains(red, secret) {
			t.Fatalf("redact(%q, %q) = %q contains the secret", match.String(), secret, red)
		}
	}
}

// TestConcurrent: one engine used from several goroutines gives the same
// results as sequential use (run with -race).
func TestConcurrent(t *testing.T) {
	e := defaultEngine(t)
	data := genText(300<<10, 3)
	data = append(data, "\ntoken: ghp_"+rnd(110, 36, alnum)+"\n"...)
	want, _ := scanAll(t, e, "x.txt", data)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _ := scanAll(t, e, "x.txt", data)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("concurrent results differ")
			}
		}()
	}
	wg.Wait()
}

// pathologicalUnits repeated over a long line are full of keywords.
var pathologicalUnits = []string{"ey", "curl ", "key=", "-----BEGIN ", "password: ", "s.", "xoxb-1234567890-", "api_key = 'abcdefghijk' ", "kind: secret\ndata:\n", "AKIA"}

// TestPathologicalInputs: long lines full of keywords are scanned to the
// end (anchored runs fall back to merged windows past a budget). The engine
// has no practical time limit, so a slow machine cannot fail this; how long
// they take is BenchmarkPathologicalInputs' business.
func TestPathologicalInputs(t *testing.T) {
	e, err := New(Options{FileTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range pathologicalUnits {
		data := []byte(strings.Repeat(unit, (256<<10)/len(unit)))
		st, err := e.ScanFile(context.Background(), "x.yaml", int64(len(data)), bytes.NewReader(data), nil)
		if err != nil || st.TimedOut || st.Bytes != int64(len(data)) {
			t.Errorf("%q: %+v %v", unit, st, err)
		}
	}
}

// TestOfficialImageEnv: the Env of common official images (checksums, key
// IDs, versions, paths) gives no finding; a real password does.
func TestOfficialImageEnv(t *testing.T) {
	env := strings.Join([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
		"PYTHON_VERSION=3.12.4",
		"PYTHON_SHA256=f6d419a6d8743ab26700801b4908d26d97e8b986e14f95de31b32de2b0e79554",
		"PHP_SHA256=9cd2a6d2b6b1a4a9c6b5b3f84f1b1b4b1f4f0fbb2a1b4a7b8d1c1f0f9b1a2b3c",
		"PHP_ASC_URL=https://www.php.net/distributions/php-8.3.8.tar.xz.asc",
		"PHPIZE_DEPS=autoconf dpkg-dev file g++ gcc libc-dev make pkg-config re2c",
		"GPG_KEYS=1198C0117593497A5EC5C199286AF1F9897469DC C28D937575603EB4ABB725861C0F1EFA8F1F1F3A",
		"NODE_VERSION=20.15.0",
		"YARN_VERSION=1.22.19",
		"JAVA_HOME=/opt/java/openjdk",
		"GOSU_VERSION=1.17",
		"RUBY_DOWNLOAD_SHA256=8dc2af2802cc700cd182d5430726388ccf885b3f0a14fcd6a0f21ff249c9aa99",
		"GOLANG_VERSION=1.22.4",
		"KEYCLOAK_ADMIN=admin",
		"JENKINS_HOME=/var/jenkins_home",
		"MONGO_PACKAGE=mongodb-org",
		"PGDATA=/var/lib/postgresql/data",
		"NGINX_VERSION=1.27.0",
		"NJS_VERSION=0.8.4",
		"PKG_RELEASE=2~bookworm",
		"RABBITMQ_PGP_KEY_ID=0x0A9AF2115F4687BD29803A206B73A36E6026DFCA",
		"OPENSSL_PGP_KEY_IDS=0x8657ABB260F056B1E5190839D9C4D26D0E604491 0xB7C1C14360F353A36862E4D5231C84CDDCC69C45",
	}, "\n")
	var ms []Match
	defaultEngine(t).ScanText(context.Background(), "config:env", env, func(m Match) { ms = append(ms, m) })
	for _, m := range ms {
		t.Errorf("unexpected %s line %d: %s", m.RuleID, m.Line, m.Redacted)
	}
	ms = nil
	defaultEngine(t).ScanText(context.Background(), "config:env", env+"\nPOSTGRES_PASSWORD=Zq8vLm2Rk4Tx", func(m Match) { ms = append(ms, m) })
	if len(ms) != 1 || ms[0].Secret != "Zq8vLm2Rk4Tx" {
		t.Errorf("password: %+v", ms)
	}
}
