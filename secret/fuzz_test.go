package secret

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
