package secret

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/testtool"
)

// run runs a program in dir; a missing program skips the test (fails in CI).
func run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(testtool.Require(t, name), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// writeTree writes files (path -> content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// archiveFixtures builds one archive of every kind with the command-line
// tools that make them (tar, xz, zstd, bzip2, 7zz, zip, dpkg-deb, rpmbuild),
// each holding secret.env with secret; it returns file name -> bytes.
func archiveFixtures(t *testing.T, secret string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	env := "# demo\nAWS_ACCESS_KEY_ID=" + secret + "\n"
	writeTree(t, filepath.Join(dir, "root"), map[string]string{"etc/secret.env": env, "etc/motd": "hello\n"})
	root := filepath.Join(dir, "root")
	out := map[string][]byte{}
	add := func(name string) { out[name] = readFile(t, filepath.Join(dir, name)) }

	run(t, root, "tar", "-cJf", "../backup.tar.xz", "etc")
	run(t, root, "tar", "--zstd", "-cf", "../backup.tar.zst", "etc")
	run(t, root, "tar", "-cjf", "../backup.tar.bz2", "etc")
	for _, f := range []string{"backup.tar.xz", "backup.tar.zst", "backup.tar.bz2"} {
		add(f)
	}
	writeTree(t, dir, map[string]string{"secret.env": env})
	run(t, dir, "xz", "-k", "secret.env")
	run(t, dir, "zstd", "-q", "secret.env", "-o", "secret.env.zst")
	run(t, dir, "bzip2", "-k", "secret.env")
	for _, f := range []string{"secret.env.xz", "secret.env.zst", "secret.env.bz2"} {
		add(f)
	}
	run(t, root, "7zz", "a", "-bd", "../backup.7z", "etc")
	add("backup.7z")

	// a wheel and an egg are zip files
	writeTree(t, filepath.Join(dir, "whl"), map[string]string{"demo/settings.py": "AWS_ACCESS_KEY_ID = '" + secret + "'\n", "demo-1.0.dist-info/METADATA": "Name: demo\n"})
	run(t, filepath.Join(dir, "whl"), "zip", "-qr", "../demo-1.0-py3-none-any.whl", ".")
	add("demo-1.0-py3-none-any.whl")
	run(t, filepath.Join(dir, "whl"), "zip", "-qr", "../demo-1.0-py3.11.egg", ".")
	add("demo-1.0-py3.11.egg")

	// Debian packages, default (xz) and zstd data.tar
	pkg := filepath.Join(dir, "deb")
	writeTree(t, pkg, map[string]string{"etc/demo/secret.env": env,
		"DEBIAN/control": "Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: demo\n"})
	run(t, dir, "dpkg-deb", "--root-owner-group", "--build", "deb", "demo_1.0_all.deb")
	run(t, dir, "dpkg-deb", "--root-owner-group", "-Zzstd", "--build", "deb", "demo-zst_1.0_all.deb")
	add("demo_1.0_all.deb")
	add("demo-zst_1.0_all.deb")

	// RPM packages with each payload compressor rpm offers
	for _, p := range []struct{ name, payload string }{{"gz", "w9.gzdio"}, {"xz", "w2.xzdio"}, {"zst", "w19.zstdio"}, {"bz2", "w9.bzdio"}} {
		top := filepath.Join(dir, "rpm-"+p.name)
		writeTree(t, top, map[string]string{"SOURCES/secret.env": env, "SPECS/demo.spec": `Name: demo
Version: 1.0
Release: 1
Summary: demo
License: MIT
BuildArch: noarch
%description
demo
%install
mkdir -p %{buildroot}/etc/demo
cp %{_sourcedir}/secret.env %{buildroot}/etc/demo/secret.env
%files
/etc/demo/secret.env
`})
		run(t, top, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_binary_payload "+p.payload,
			"--define", "__os_install_post %{nil}", "--define", "_build_id_links none", "SPECS/demo.spec")
		rpms, _ := filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
		if len(rpms) != 1 {
			t.Fatalf("rpmbuild made %v", rpms)
		}
		out["demo-"+p.name+".rpm"] = readFile(t, rpms[0])
	}

	// a gem is a tar of metadata.gz, data.tar.gz and checksums.yaml.gz
	gem := filepath.Join(dir, "gem")
	writeTree(t, filepath.Join(gem, "data"), map[string]string{"lib/demo/secret.rb": "KEY = '" + secret + "'\n"})
	writeTree(t, gem, map[string]string{"metadata": "--- !ruby/object:Gem::Specification\nname: demo\n"})
	run(t, filepath.Join(gem, "data"), "tar", "-czf", "../data.tar.gz", "lib")
	run(t, gem, "gzip", "metadata")
	run(t, gem, "tar", "-cf", "../demo-1.0.gem", "metadata.gz", "data.tar.gz")
	add("demo-1.0.gem")

	out["demo-1.0-r0.apk"] = alpineAPK(t, dir, env)
	return out
}

// alpineAPK builds an Alpine (v2) package the way abuild does: gzip streams
// of tar segments concatenated, the signature and control segments cut
// before tar's end-of-archive blocks. abuild is not packaged for Debian, so
// the tar segments come from GNU tar and the cut is done here.
func alpineAPK(t *testing.T, dir, env string) []byte {
	t.Helper()
	a := filepath.Join(dir, "apk")
	writeTree(t, a, map[string]string{".SIGN.RSA.test.rsa.pub": "sig\n", ".PKGINFO": "pkgname = demo\npkgver = 1.0-r0\n", "etc/secret.env": env})
	run(t, a, "tar", "--format=ustar", "-cf", "../sig.tar", ".SIGN.RSA.test.rsa.pub")
	run(t, a, "tar", "--format=ustar", "-cf", "../ctl.tar", ".PKGINFO")
	run(t, a, "tar", "--format=ustar", "-cf", "../data.tar", "etc")
	var out bytes.Buffer
	for _, seg := range []struct {
		name string
		cut  bool
	}{{"sig.tar", true}, {"ctl.tar", true}, {"data.tar", false}} {
		b := readFile(t, filepath.Join(dir, seg.name))
		if seg.cut {
			for len(b) >= 512 && bytes.Count(b[len(b)-512:], []byte{0}) == 512 {
				b = b[:len(b)-512]
			}
		}
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
	}
	return out.Bytes()
}

// TestArchiveKinds: every archive kind is opened, its member named
// outer!member, the secret found with the right rule.
func TestArchiveKinds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages with rpmbuild and dpkg-deb")
	}
	e := defaultEngine(t)
	secret := "AKIA" + rnd(70, 16, b32)
	fx := archiveFixtures(t, secret)
	cases := []struct{ file, path, member string }{
		{"backup.tar.xz", "app/backup.tar.xz", "app/backup.tar.xz!etc/secret.env"},
		{"backup.tar.zst", "app/backup.tar.zst", "app/backup.tar.zst!etc/secret.env"},
		{"backup.tar.bz2", "app/backup.tar.bz2", "app/backup.tar.bz2!etc/secret.env"},
		{"secret.env.xz", "app/secret.env.xz", "app/secret.env.xz!secret.env"},
		{"secret.env.zst", "app/secret.env.zst", "app/secret.env.zst!secret.env"},
		{"secret.env.bz2", "app/secret.env.bz2", "app/secret.env.bz2!secret.env"},
		{"backup.7z", "app/backup.7z", "app/backup.7z!etc/secret.env"},
		{"demo-1.0-py3-none-any.whl", "usr/lib/python3/dist/demo-1.0-py3-none-any.whl", "usr/lib/python3/dist/demo-1.0-py3-none-any.whl!demo/settings.py"},
		{"demo-1.0-py3.11.egg", "srv/demo-1.0-py3.11.egg", "srv/demo-1.0-py3.11.egg!demo/settings.py"},
		{"demo_1.0_all.deb", "var/cache/apt/archives/demo_1.0_all.deb", "var/cache/apt/archives/demo_1.0_all.deb!data.tar.xz!etc/demo/secret.env"},
		{"demo-zst_1.0_all.deb", "tmp/demo-zst_1.0_all.deb", "tmp/demo-zst_1.0_all.deb!data.tar.zst!etc/demo/secret.env"},
		{"demo-gz.rpm", "tmp/demo-gz.rpm", "tmp/demo-gz.rpm!etc/demo/secret.env"},
		{"demo-xz.rpm", "tmp/demo-xz.rpm", "tmp/demo-xz.rpm!etc/demo/secret.env"},
		{"demo-zst.rpm", "tmp/demo-zst.rpm", "tmp/demo-zst.rpm!etc/demo/secret.env"},
		{"demo-bz2.rpm", "tmp/demo-bz2.rpm", "tmp/demo-bz2.rpm!etc/demo/secret.env"},
		{"demo-1.0.gem", "usr/share/gems/cache/demo-1.0.gem", "usr/share/gems/cache/demo-1.0.gem!data.tar.gz!lib/demo/secret.rb"},
		{"demo-1.0-r0.apk", "var/cache/apk/demo-1.0-r0.apk", "var/cache/apk/demo-1.0-r0.apk!etc/secret.env"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			ms, st := scanAll(t, e, c.path, fx[c.file])
			var got []string
			for _, m := range ms {
				got = append(got, m.Path+":"+m.RuleID)
				if m.RuleID == "aws-access-token" && m.Secret != secret {
					t.Errorf("secret %q, want %q", m.Secret, secret)
				}
			}
			if want := c.member + ":aws-access-token"; len(got) != 1 || got[0] != want {
				t.Errorf("findings %v, want [%s]; stats %+v", got, want, st)
			}
			if st.ArchiveMembers < 1 || st.SkipReason != "" {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestArchiveBombs: a stream that decompresses past the archive byte
// budget is cut there with a coverage note, in every compressor; streams
// that declare more decoder memory than allowed are refused.
func TestArchiveBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 3 MiB with each tool")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"big.txt": strings.Repeat("option value = something ordinary\n", 3<<20/34)})
	run(t, dir, "gzip", "-k", "big.txt")
	run(t, dir, "xz", "-k", "-0", "big.txt")
	run(t, dir, "zstd", "-q", "big.txt", "-o", "big.txt.zst")
	run(t, dir, "bzip2", "-k", "big.txt")
	run(t, dir, "7zz", "a", "-bd", "big.7z", "big.txt")
	run(t, dir, "tar", "-cJf", "big.tar.xz", "big.txt")
	writeTree(t, dir, map[string]string{"small.txt": "x\n"})
	run(t, dir, "xz", "-k", "--lzma2=dict=256MiB", "small.txt")
	run(t, dir, "7zz", "a", "-bd", "-mhc=off", "small.7z", "small.txt")
	// 7-Zip shrinks the dictionary to the input's size: declare 128 MiB in
	// the LZMA2 coder's property byte and fix the header checksums
	writeTree(t, dir, map[string]string{"small.7z": string(bigDict7z(t, readFile(t, filepath.Join(dir, "small.7z"))))})

	const budget = 512 << 10
	e, err := New(Options{MaxArchiveBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, reason string }{
		{"big.txt.gz", "archive byte limit"}, {"big.txt.xz", "archive byte limit"}, {"big.txt.zst", "archive byte limit"},
		{"big.txt.bz2", "archive byte limit"}, {"big.7z", "archive byte limit"}, {"big.tar.xz", "archive byte limit"},
		{"small.txt.xz", "dictionary"}, {"small.7z", "dictionary"},
	} {
		t.Run(c.file, func(t *testing.T) {
			_, st := scanAll(t, e, c.file, readFile(t, filepath.Join(dir, c.file)))
			if !strings.Contains(st.SkipReason, c.reason) {
				t.Errorf("skip reason %q, want %q", st.SkipReason, c.reason)
			}
			if st.Bytes > budget {
				t.Errorf("scanned %d bytes past the %d budget", st.Bytes, budget)
			}
		})
	}
}

// TestArchiveCorrupt: truncated and garbled archives of every kind give a
// coverage note, never an error or a panic.
func TestArchiveCorrupt(t *testing.T) {
	e := defaultEngine(t)
	for _, c := range []struct{ name, data string }{
		{"x.xz", "\xfd7zXZ\x00garbage"},
		{"x.bz2", "BZh91AY&SYgarbage"},
		{"x.zst", "\x28\xb5\x2f\xfdgarbage"},
		{"x.7z", "7z\xbc\xaf\x27\x1cgarbage"},
		{"x.deb", "!<arch>\ndebian-binary   1234"},
		{"x.deb", "!<arch>\ndebian-binary   0           0     0     100644  99999999999`\n2.0\n"},
		{"x.rpm", "\xed\xab\xee\xdb" + strings.Repeat("\x00", 92) + "\x8e\xad\xe8\x01\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x10"},
		{"x.rpm", "\xed\xab\xee\xdb"},
	} {
		_, st, err := scanErr(e, c.name, []byte(c.data))
		if err != nil || st.SkipReason == "" {
			t.Errorf("%s %q: err %v, stats %+v", c.name, c.data, err, st)
		}
	}
}

// bigDict7z sets the LZMA2 dictionary property of a 7z archive with an
// uncompressed header (7zz -mhc=off) to 128 MiB and recomputes the
// next-header and start-header CRCs (7zFormat.txt).
func bigDict7z(t *testing.T, b []byte) []byte {
	t.Helper()
	b = bytes.Clone(b)
	off := int64(binary.LittleEndian.Uint64(b[12:20])) + 32
	size := int64(binary.LittleEndian.Uint64(b[20:28]))
	next := b[off : off+size]
	// coder: flags 0x21 (one-byte id, has properties), id 0x21 (LZMA2), one property byte
	i := bytes.Index(next, []byte{0x21, 0x21, 0x01})
	if i < 0 {
		t.Fatalf("no LZMA2 coder in the 7z header % x", next)
	}
	next[i+3] = 30 // (2|0) << (30/2 + 11) = 128 MiB
	binary.LittleEndian.PutUint32(b[28:32], crc32.ChecksumIEEE(next))
	binary.LittleEndian.PutUint32(b[8:12], crc32.ChecksumIEEE(b[12:32]))
	return b
}

func scanErr(e *Engine, path string, content []byte) ([]Match, FileStats, error) {
	var ms []Match
	st, err := e.ScanFile(context.Background(), path, int64(len(content)), bytes.NewReader(content), func(m Match) { ms = append(ms, m) })
	return ms, st, err
}

// TestPackageReaders: the bounded ar, rpm and cpio readers on archives
// built here (the fuzz seeds): an rpm with an uncompressed payload, ar
// members of odd size (padding), cpio directories and trailers.
func TestPackageReaders(t *testing.T) {
	e := defaultEngine(t)
	ghp := "ghp_" + rnd(71, 36, alnum)
	secret := "token=" + ghp + "\n"
	deb := arBytes([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", string(gzBytes(tarBytes(t, map[string][]byte{"./control": []byte("Package: x\n")})))},
		[2]string{"odd", "x"}, [2]string{"data.tar.gz", string(gzBytes(tarBytes(t, map[string][]byte{"./etc/a.env": []byte(secret)})))})
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"x.rpm", rpmBytes(cpioBytes([2]string{"./etc/a.env", secret})), "x.rpm!etc/a.env"},
		{"y.rpm", rpmBytes(gzBytes(cpioBytes([2]string{"./usr/share/x", "nothing\n"}, [2]string{"./etc/a.env", secret}))), "y.rpm!etc/a.env"},
		{"x.deb", deb, "x.deb!data.tar.gz!etc/a.env"},
	} {
		ms, st := scanAll(t, e, c.name, c.data)
		if len(ms) != 1 || ms[0].Path != c.want || ms[0].Secret != ghp || st.SkipReason != "" {
			t.Errorf("%s: %+v %+v", c.name, ms, st)
		}
	}
}

// TestFreeListBounded: idle decoders beyond freeListCap are dropped, not
// kept (each can hold a window of megabytes); the kept ones come back.
func TestFreeListBounded(t *testing.T) {
	f := newFreeList[*int]()
	vals := make([]*int, freeListCap+2)
	for i := range vals {
		vals[i] = new(int)
		f.put(vals[i])
	}
	if len(f) != freeListCap {
		t.Fatalf("%d idle kept, want %d", len(f), freeListCap)
	}
	for i := 0; i < freeListCap; i++ {
		if v, ok := f.get(); !ok || v != vals[i] {
			t.Fatalf("get %d: %v %v, want the %d-th put", i, v, ok, i)
		}
	}
	if _, ok := f.get(); ok {
		t.Fatal("get from an empty list returned a decoder")
	}
}

// TestXzDecoderReused: xz streams scanned one after another share one
// decoder and its dictionary (8 MiB at xz's default -6) instead of
// allocating a dictionary per stream, as a .deb per apt cache entry would.
func TestXzDecoderReused(t *testing.T) {
	dir := t.TempDir()
	secret := "AKIA" + rnd(71, 16, b32)
	writeTree(t, dir, map[string]string{"secret.env": "AWS_ACCESS_KEY_ID=" + secret + "\n"})
	run(t, dir, "xz", "-6", "-k", "secret.env")
	b := readFile(t, filepath.Join(dir, "secret.env.xz"))
	e := defaultEngine(t)
	scan := func() {
		ms, _, err := scanErr(e, "app/secret.env.xz", b)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%d findings, err %v; want the key", len(ms), err)
		}
	}
	scan() // the first stream allocates the dictionary
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 4 {
		scan()
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("4 more xz streams allocated %d MiB: the decoder's dictionary is not reused", n>>20)
	}
}
