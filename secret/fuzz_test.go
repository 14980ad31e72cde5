package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	ulxz "github.com/ulikunitz/xz"
)

// FuzzScanFile: arbitrary bytes (binary, archives, long lines) never panic
// and every finding's redaction hides its secret. FileTimeout bounds each
// execution; what the seeds cost is measured by BenchmarkScanFileSeeds, not
// bounded here by the clock.
func FuzzScanFile(f *testing.F) {
	e, err := New(Options{FileTimeout: 2 * time.Second, MaxArchiveBytes: 8 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("api_key = 0123456789abcdefABCDEF\n"), "a.txt")
	f.Add([]byte(strings.Repeat("key=", 5000)), "long.txt")
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n"+strings.Repeat("QUJD", 400)+"\n-----END RSA PRIVATE KEY-----"), "id_rsa")
	f.Add(gzBytes([]byte("token: ghp_0123456789abcdefghijABCDEFGHIJ012345\n")), "x.gz")
	f.Add([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), "x.zip")
	f.Add([]byte("\x7fELF\x02\x01"), "bin")
	f.Add([]byte("root:$6$abcdefgh$"+strings.Repeat("x", 86)+":1:0:::::\n"), "etc/shadow")
	// encodings: base64 (wrapped and not), JSON escapes, percent, UTF-16
	f.Add([]byte("data:\n  t: Z2hwXzAxMjM0NTY3ODlhYmNkZWZnaGlqQUJDREVGR0hJSjAxMjM0NQ==\n"), "k8s.yaml")
	f.Add([]byte(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n", 3)+"NTY=\n"), "x.b64")
	f.Add([]byte(`{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIB\u0041\/x\n-----END PRIVATE KEY-----\n"}`), "sa.json")
	f.Add([]byte("url=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0%2FB0%2Fx%\n"), "a.env")
	f.Add([]byte("\xff\xfet\x00o\x00k\x00\x00\xd8"), "a.ini")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		st, err := e.ScanFile(context.Background(), name, int64(len(data)), bytes.NewReader(data), func(m Match) {
			if m.Secret != "" && strings.Contains(m.Redacted, m.Secret) {
				t.Errorf("redacted %q contains secret %q", m.Redacted, m.Secret)
			}
			if m.Line < 0 {
				t.Errorf("line %d", m.Line)
			}
		})
		if err != nil {
			t.Fatalf("ScanFile: %v", err)
		}
		if st.Bytes < 0 {
			t.Errorf("bytes %d", st.Bytes)
		}
	})
}

// FuzzRulesTOML: arbitrary rule files are rejected with ErrBadRules or
// loaded; never a panic (gitleaks compiles regexes with MustCompile).
func FuzzRulesTOML(f *testing.F) {
	f.Add("[[rules]]\nid = \"x\"\nregex = '''abc[0-9]+'''\nkeywords = [\"abc\"]\nseverity = \"low\"\n")
	f.Add("[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n")
	f.Add("[[rules]]\nid = \"p\"\npath = '''\\.pem$'''\n[[rules.allowlists]]\nregexes = ['''x''']\ncondition = \"AND\"\n")
	f.Add("[allowlist]\nstopwords = [\"a\"]\n")
	f.Add("[[rules]]\nid = \"x\"\nregex = '''a'''\nsecretGroup = 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := loadTOML(text, "fuzz.toml", SeverityHigh, nil)
		if err != nil {
			if !errors.Is(err, ErrBadRules) {
				t.Fatalf("error without ErrBadRules: %v", err)
			}
			return
		}
		for _, r := range rules {
			if r.ID == "" {
				t.Fatalf("rule without id")
			}
		}
	})
}

// arBytes is an ar archive of members (name, content) in order.
func arBytes(members ...[2]string) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", m[0], "0", "0", "0", "100644", len(m[1]))
		b.WriteString(m[1])
		if len(m[1])%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// cpioBytes is a newc cpio archive of regular files.
func cpioBytes(files ...[2]string) []byte {
	var b bytes.Buffer
	entry := func(name, data string, mode int) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.WriteString(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for _, f := range files {
		entry(f[0], f[1], 0o100644)
	}
	entry("TRAILER!!!", "", 0)
	return b.Bytes()
}

// rpmBytes is an RPM file: lead, empty signature and main headers, payload.
func rpmBytes(payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xed, 0xab, 0xee, 0xdb, 3, 0})
	b.Write(make([]byte, 90))
	hdr := []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b.Write(hdr) // signature: 16 bytes, already 8-aligned
	b.Write(hdr)
	b.Write(payload)
	return b.Bytes()
}

// FuzzArchive: the archive dispatcher (gzip, xz, bzip2, zstd, tar, zip, 7z,
// deb, rpm, cpio, UTF-16) on arbitrary bytes: no panic, no error other than
// cancellation, no hang past FileTimeout, bounded scanned bytes.
func FuzzArchive(f *testing.F) {
	e, err := New(Options{FileTimeout: 2 * time.Second, MaxArchiveBytes: 4 << 20})
	if err != nil {
		f.Fatal(err)
	}
	if err := e.Compile(); err != nil { // not inside the timed calls
		f.Fatal(err)
	}
	secret := "token=ghp_0123456789abcdefghijABCDEFGHIJ012345\n"
	tarSeed := tarBytes(f, map[string][]byte{"etc/a.env": []byte(secret)})
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(tarSeed)
	zw.Close()
	var xzs bytes.Buffer
	xw, _ := ulxz.NewWriter(&xzs)
	xw.Write([]byte(secret))
	xw.Close()
	f.Add(gzBytes(tarSeed), "a.tar.gz")
	f.Add(zs.Bytes(), "a.tar.zst")
	f.Add(xzs.Bytes(), "a.xz")
	f.Add([]byte("BZh91AY&SY\x00\x00\x00\x00"), "a.bz2")
	f.Add(zipBytes(f, map[string][]byte{"pkg/settings.py": []byte(secret)}), "a.whl")
	f.Add(arBytes([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(gzBytes(tarSeed))}, [2]string{"data.tar.xz", xzs.String()}), "a.deb")
	f.Add(rpmBytes(gzBytes(cpioBytes([2]string{"./etc/a.env", secret}))), "a.rpm")
	f.Add(rpmBytes(cpioBytes([2]string{"./etc/a.env", secret})), "b.rpm")
	f.Add(append([]byte{0xff, 0xfe}, []byte("t\x00o\x00k\x00e\x00n\x00")...), "a.ini")
	f.Add([]byte("7z\xbc\xaf\x27\x1c\x00\x04"+strings.Repeat("\x00", 24)), "a.7z")
	if p, err := exec.LookPath("7zz"); err == nil {
		dir := f.TempDir()
		os.WriteFile(filepath.Join(dir, "a.env"), []byte(secret), 0o600)
		if exec.Command(p, "a", "-bd", filepath.Join(dir, "a.7z"), filepath.Join(dir, "a.env")).Run() == nil {
			if b, err := os.ReadFile(filepath.Join(dir, "a.7z")); err == nil {
				f.Add(b, "b.7z")
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		start := time.Now()
		st, err := e.ScanFile(context.Background(), name, int64(len(data)), bytes.NewReader(data), func(m Match) {
			if m.Secret != "" && strings.Contains(m.Redacted, m.Secret) {
				t.Errorf("redacted %q contains secret %q", m.Redacted, m.Secret)
			}
		})
		if err != nil {
			t.Fatalf("ScanFile: %v", err)
		}
		if d := time.Since(start); d > 4*time.Second && !st.TimedOut {
			t.Errorf("took %s without timing out", d)
		}
		if st.Bytes > 4<<20+int64(len(data)) {
			t.Errorf("scanned %d bytes past the archive budget", st.Bytes)
		}
	})
}
