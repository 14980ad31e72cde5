package secret

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stratascan/strata/internal/testtool"
)

// pkcs8Key is a fresh PKCS#8 "PRIVATE KEY" PEM (the form service-account
// JSON files carry).
func pkcs8Key(t testing.TB) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}))
}

// plainSecret is what rule finds in content scanned as a plain file.
func plainSecret(t testing.TB, e *Engine, rule, content string) Match {
	t.Helper()
	ms, _ := scanAll(t, e, "plain.txt", []byte(content))
	for _, m := range ms {
		if m.RuleID == rule {
			return m
		}
	}
	t.Fatalf("rule %s finds nothing in the plain value %q: %+v", rule, content, ms)
	return Match{}
}

func utf16Bytes(s string, be, bom bool) []byte {
	var out []byte
	if bom {
		if be {
			out = append(out, 0xfe, 0xff)
		} else {
			out = append(out, 0xff, 0xfe)
		}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if be {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// TestEncodings: secrets in JSON/YAML strings, base64, percent-encoding and
// UTF-16 are found with the rule of the plain secret, the encoded line, the
// Encoding field, and the fingerprint of the decoded value.
func TestEncodings(t *testing.T) {
	e := defaultEngine(t)
	key := pkcs8Key(t)
	ecKey := pemKey(t, "EC")
	aws := "AKIA" + rnd(80, 16, b32)
	ghp := "ghp_" + rnd(81, 36, alnum)
	slack := "https://hooks.slack.com/services/T" + rnd(82, 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + "/B" + rnd(83, 10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + "/" + rnd(84, 24, alnum)
	sa, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "demo-project", "private_key_id": rnd(85, 40, "0123456789abcdef"),
		"private_key": key, "client_email": "ci@demo-project.iam.gserviceaccount.com", "client_id": "1234567890",
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tfstate, err := json.MarshalIndent(map[string]any{"version": 4, "resources": []any{map[string]any{
		"type": "tls_private_key", "instances": []any{map[string]any{"attributes": map[string]string{
			"algorithm": "ECDSA", "private_key_pem": ecKey}}}}}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	k8sTLS := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ntype: kubernetes.io/tls\nstringData:\n  tls.key: " +
		strings.ReplaceAll(strings.TrimSpace(fmtJSON(t, ecKey)), "\n", "") + "\n"
	b64 := base64.StdEncoding.EncodeToString
	k8sSecret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n  AWS_ACCESS_KEY_ID: " +
		b64([]byte(aws)) + "\n  client.key: " + b64([]byte(ecKey)) + "\n"
	slackJSONEscaped := `{"channel":"#ops","webhook":"` + strings.ReplaceAll(slack, "/", `\/`) + `"}` + "\n"
	pct := "NOTIFY_URL=" + url.QueryEscape(slack) + "\n"
	b64url := base64.RawURLEncoding.EncodeToString([]byte("token: " + ghp + " ?>?>?>"))
	if !strings.ContainsAny(b64url, "-_") {
		t.Fatalf("%s has no base64url-only character", b64url)
	}
	utf16Text := "[settings]\r\ntoken = " + ghp + "\r\n"

	cases := []struct {
		name, path string
		content    []byte
		rule       string
		plain      string // the secret in plain form, scanned to compare fingerprints
		encoding   string
		line       int
	}{
		{"service-account json", "app/sa.json", sa, "private-key", key, EncodingJSONEscape, lineOf(string(sa), `"private_key"`)},
		{"terraform state", "infra/terraform.tfstate", tfstate, "private-key", ecKey, EncodingJSONEscape, lineOf(string(tfstate), "private_key_pem")},
		{"kubernetes yaml escaped", "k8s/tls.yaml", []byte(k8sTLS), "private-key", ecKey, EncodingJSONEscape, 7},
		{"kubernetes secret data", "k8s/secret.yaml", []byte(k8sSecret), "aws-access-token", "key: " + aws + "\n", EncodingBase64, 7},
		{"kubernetes secret pem data", "k8s/secret.yaml", []byte(k8sSecret), "private-key", ecKey, EncodingBase64, 8},
		{"base64 token file", "run/secrets/gh.b64", []byte(b64([]byte("GITHUB_TOKEN="+ghp+"\n")) + "\n"), "github-pat", ghp, EncodingBase64, 1},
		{"base64url", "etc/app/token", []byte("x\nv=" + b64url + "\n"), "github-pat", ghp, EncodingBase64URL, 2},
		{"json \\/ escapes", "var/www/hooks.json", []byte(slackJSONEscaped), "slack-webhook-url", slack, EncodingJSONEscape, 1},
		{"percent-encoded", "etc/default/notify", []byte("# notify\n" + pct), "slack-webhook-url", slack, EncodingPercent, 2},
		{"utf-16le bom", "Windows/app.ini", utf16Bytes(utf16Text, false, true), "github-pat", ghp, EncodingUTF16LE, 2},
		{"utf-16be bom", "Windows/app.ini", utf16Bytes(utf16Text, true, true), "github-pat", ghp, EncodingUTF16BE, 2},
		{"utf-16le no bom", "Windows/app.ini", utf16Bytes(utf16Text, false, false), "github-pat", ghp, EncodingUTF16LE, 2},
		{"utf-16le base64", "Windows/app.ini", utf16Bytes("x\r\nv="+b64([]byte("token: "+ghp))+"\r\n", false, true), "github-pat", ghp, EncodingUTF16LE + "+" + EncodingBase64, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := plainSecret(t, e, c.rule, c.plain)
			ms, _ := scanAll(t, e, c.path, c.content)
			var got *Match
			for i := range ms {
				if ms[i].RuleID == c.rule && ms[i].Fingerprint == want.Fingerprint {
					got = &ms[i]
				}
			}
			if got == nil {
				t.Fatalf("%s with the plain secret's fingerprint not found; got %+v", c.rule, ms)
			}
			checkMatch(t, *got)
			if got.Encoding != c.encoding || got.Line != c.line || got.Path != c.path {
				t.Errorf("encoding %q line %d path %q, want %q %d %q", got.Encoding, got.Line, got.Path, c.encoding, c.line, c.path)
			}
			if got.Secret != want.Secret {
				t.Errorf("secret %q, want the decoded %q", got.Secret, want.Secret)
			}
		})
	}
}

func fmtJSON(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lineOf(text, sub string) int {
	i := strings.Index(text, sub)
	if i < 0 {
		return -1
	}
	return strings.Count(text[:i], "\n") + 1
}

// TestEncodingsNegative: encoded look-alikes give nothing, and a secret
// found in plain text is not reported again from a decoded form.
func TestEncodingsNegative(t *testing.T) {
	e := defaultEngine(t)
	binary := make([]byte, 300)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	ghp := "ghp_" + rnd(90, 36, alnum)
	cases := []struct{ name, path, content string }{
		{"base64 of binary", "etc/blob", "data: " + base64.StdEncoding.EncodeToString(binary) + "\n"},
		{"sha256 digests", "var/lib/dpkg/info/x.md5sums", strings.Repeat("sha256:"+rnd(91, 64, "0123456789abcdef")+"\n", 20)},
		{"base64 of plain words", "etc/motd.b64", base64.StdEncoding.EncodeToString([]byte("welcome to the machine, nothing to see here at all")) + "\n"},
		{"paths", "etc/ld.so.conf.d/x.conf", "/usr/lib/x86_64-linux-gnu/libfoo_bar-baz/plugins\n"},
		{"escaped text", "usr/share/app/strings.json", `{"usage":"Usage: tool [options]\nOptions:\n  -h  help\n"}` + "\n"},
		{"percent text", "usr/share/doc/x/index.html", `<a href="https://example.com/a%20b%2Fc">x</a>` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, _ := scanAll(t, e, c.path, []byte(c.content))
			if len(ms) != 0 {
				t.Errorf("findings in %q: %+v", c.content, ms)
			}
		})
	}
	// the same secret plain and in a JSON line with escapes: one finding
	ms, _ := scanAll(t, e, "x.json", []byte(`{"a":"https:\/\/x","t":"`+ghp+`"}`+"\n"))
	if len(ms) != 1 || ms[0].Encoding != "" {
		t.Errorf("plain + escaped duplicate: %+v", ms)
	}
}

// TestDockerConfigJSONInSecret: a Kubernetes Secret's .dockerconfigjson is
// base64 of JSON whose "auth" is base64 again: both levels are decoded
// (the user:password rule comes from a rules file).
func TestDockerConfigJSONInSecret(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.toml")
	if err := os.WriteFile(rules, []byte(`[[rules]]
id = "test-docker-auth"
description = "docker auth"
regex = '''"auth"\s*:\s*"([A-Za-z0-9+/=]{8,})"'''
secretGroup = 1
keywords = ["\"auth\""]

[[rules]]
id = "test-basic-auth"
description = "user:password"
regex = '''\brobot\$ci:([A-Za-z0-9]{16,})'''
secretGroup = 1
keywords = ["robot$ci:"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{RulesFiles: []string{rules}})
	if err != nil {
		t.Fatal(err)
	}
	pass := rnd(92, 24, alnum)
	auth := base64.StdEncoding.EncodeToString([]byte("robot$ci:" + pass))
	cfg := `{"auths":{"registry.example.com":{"auth":"` + auth + `"}}}`
	manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " +
		base64.StdEncoding.EncodeToString([]byte(cfg)) + "\n"
	ms, _ := scanAll(t, e, "k8s/pull-secret.yaml", []byte(manifest))
	got := map[string]Match{}
	for _, m := range ms {
		got[m.RuleID] = m
	}
	// the built-in docker-auths-json rule reports the same secret at the same
	// place as the test rule; the user's own rule wins such a tie
	if m := got["test-docker-auth"]; m.Secret != auth || m.Encoding != "base64" || m.Line != 7 {
		t.Errorf("auth: %+v", m)
	}
	if m := got["test-basic-auth"]; m.Secret != pass || m.Encoding != "base64+base64" || m.Line != 7 {
		t.Errorf("user:password: %+v", m)
	}
	for _, m := range ms {
		checkMatch(t, m)
	}
}

// TestEncodingsChunkBoundary: a base64 run and an escaped PEM line that
// straddle a buffer boundary are decoded exactly once, with the right line.
func TestEncodingsChunkBoundary(t *testing.T) {
	e := defaultEngine(t)
	ghp := "ghp_" + rnd(93, 36, alnum)
	enc := base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN=" + ghp))
	filler := strings.Repeat("just some ordinary words in a line\n", 40000) // 1.4 MB
	for _, shift := range []int{-len(enc) / 2, -3, 0, 5} {
		off := keepBefore + chunkSize + shift // the first buffer's scan limit
		line := "v: " + enc + "\n"
		head := filler[:off-len("v: ")]
		head = head[:strings.LastIndexByte(head, '\n')+1]
		pad := strings.Repeat("x", off-len("v: ")-len(head))
		content := head + pad + line + filler[:1000]
		ms, _ := scanAll(t, e, "big.yaml", []byte(content))
		if len(ms) != 1 || ms[0].Secret != ghp || ms[0].Encoding != EncodingBase64 || ms[0].Line != strings.Count(head, "\n")+1 {
			t.Errorf("shift %d: %+v", shift, ms)
		}
	}
}

// TestScanTextDecodes: config texts (Env) are decoded too.
func TestScanTextDecodes(t *testing.T) {
	ghp := "ghp_" + rnd(94, 36, alnum)
	var ms []Match
	defaultEngine(t).ScanText(t.Context(), "config:env", "PATH=/usr/bin\nTOKEN_B64="+base64.StdEncoding.EncodeToString([]byte("token "+ghp))+"\n", func(m Match) { ms = append(ms, m) })
	// dotenv-secret reports the encoded value, github-pat the decoded one
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s:%d:%s:%v", m.RuleID, m.Line, m.Encoding, m.Secret == ghp))
	}
	if want := "[dotenv-secret:2::false github-pat:2:base64:true]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestWrappedBase64: base64(1) output, wrapped at 76 columns, is joined
// before decoding; the finding points at the first line of the blob.
func TestWrappedBase64(t *testing.T) {
	dir := t.TempDir()
	ghp := "ghp_" + rnd(95, 36, alnum)
	env := "# generated by the deploy job for the staging environment\nAPP_ENV=staging\nLOG_LEVEL=info\nGITHUB_TOKEN=" + ghp + "\n"
	writeTree(t, dir, map[string]string{"app.env": env})
	cmd := exec.Command(testtool.Require(t, "base64"), "app.env")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(out, []byte("\n")) < 2 {
		t.Fatalf("base64 did not wrap: %q", out)
	}
	ms, _ := scanAll(t, defaultEngine(t), "srv/app.env.b64", append([]byte("# backup\n"), out...))
	if len(ms) != 1 || ms[0].Secret != ghp || ms[0].Encoding != EncodingBase64 || ms[0].Line != 2 {
		t.Errorf("%+v", ms)
	}
}

// TestJSONUnescape: escapes, surrogate pairs, and escapes cut at the end
// of the line.
func TestJSONUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\nb\/c\"d\\e\tf`:   "a\nb/c\"d\\e\tf",
		`\u00e9\ud83d\ude00`: "é😀",
		`x\ud83d`:            "x\ufffd",
		`x\ud83d\u`:          "x\ufffd\\u",
		`x\u12`:              "",
		`x\`:                 "",
		`\q\n`:               "\\q\n",
	} {
		if got := string(jsonUnescape([]byte(in))); got != want {
			t.Errorf("jsonUnescape(%q) = %q, want %q", in, got, want)
		}
	}
}
