package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

var (
	engOnce sync.Once
	eng     *secret.Engine
	engErr  error
)

func engine(t testing.TB) *secret.Engine {
	t.Helper()
	engOnce.Do(func() { eng, engErr = secret.New(secret.Options{}) })
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

func rnd(seed uint64, n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := mrand.New(mrand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

func ghp(seed uint64) string { return "ghp_" + rnd(seed, 36) }

func fp(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func zipOf(t testing.TB, name string, body []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create(name)
	w.Write(body)
	zw.Close()
	return b.Bytes()
}

// open loads the layout at dir:tag and selects images.
func open(t testing.TB, dir, tag string, all bool) Target {
	t.Helper()
	ref := "oci:" + dir + ":" + tag
	st, err := source.Open(context.Background(), ref, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := source.Load(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := source.Select(root, nil, all)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Ref: ref, Store: st, Root: root, Images: imgs}
}

func find(fs []Finding, fingerprint string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Fingerprint == fingerprint {
			out = append(out, f)
		}
	}
	return out
}

func layerIdx(f Finding) int {
	if f.Layer == nil {
		return -1
	}
	return *f.Layer
}

func hidden(f Finding) int {
	if f.HiddenBy == nil {
		return -1
	}
	return *f.HiddenBy
}

// TestHiddenSecrets builds one image that hides secrets in each way the
// issue lists and checks state, layer, hiddenBy, path and fingerprint.
func TestHiddenSecrets(t *testing.T) {
	img, s := hiddenImage(t)
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "latest", img)
	res, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkHidden(t, res, s)
	c := res.Coverage
	if c.Layers != 3 || c.Images != 1 || c.Files < 7 || c.ArchiveMembers != 1 || c.ConfigTexts < 4 {
		t.Errorf("coverage %+v", c)
	}
}

// hiddenImage is an image that hides secrets in each way the issue lists,
// and the secrets by kind of hiding.
func hiddenImage(t testing.TB) (fixture.Image, map[string]string) {
	s := map[string]string{
		"rm":     ghp(1),
		"empty":  ghp(2),
		"opaque": ghp(3),
		"zip":    ghp(4),
		"env":    "Xk3Lm9Qp2RsT",
		"arg":    ghp(6),
		"zstd":   ghp(7),
		"live":   ghp(8),
	}
	img := fixture.Image{
		Layers: []fixture.Layer{
			{CreatedBy: "COPY creds /", Files: []fixture.File{
				{Path: "root/.config/gh/hosts.yml", Body: []byte("github.com:\n  oauth_token: " + s["rm"] + "\n")},
				{Path: "app/.env", Body: []byte("GITHUB_TOKEN=" + s["empty"] + "\n")},
				{Path: "opt/secrets/", Type: tar.TypeDir},
				{Path: "opt/secrets/token.txt", Body: []byte("token " + s["opaque"] + "\n")},
				{Path: "app/bundle.zip", Body: zipOf(t, "conf/app.properties", []byte("gh.token="+s["zip"]+"\n"))},
				{Path: "app/live.txt", Body: []byte(s["live"] + "\n")},
			}},
			{CreatedBy: "RUN rm -rf /root/.config/gh/hosts.yml && : > /app/.env", Files: []fixture.File{
				{Path: "root/.config/gh/.wh.hosts.yml"},
				{Path: "app/.env", Body: nil},
				{Path: "opt/secrets/", Type: tar.TypeDir},
				{Path: "opt/secrets/.wh..wh..opq"},
			}},
			{CreatedBy: "RUN |1 GH_TOKEN=" + s["arg"] + " /bin/sh -c make", Compression: "zstd", Files: []fixture.File{
				{Path: "srv/zstd.txt", Body: []byte("x\ny\ntoken: " + s["zstd"] + "\n")},
			}},
		},
		Env: []string{"PATH=/usr/bin", "DB_PASSWORD=" + s["env"]},
	}
	return img, s
}

// checkHidden checks the findings of hiddenImage: state, layer, hiddenBy,
// path and fingerprint of each.
func checkHidden(t *testing.T, res *Result, s map[string]string) {
	t.Helper()
	want := []struct {
		key, path     string
		layer, hidden int
		state         overlay.State
		line          int
	}{
		{"rm", "root/.config/gh/hosts.yml", 0, 1, overlay.Deleted, 2},
		{"empty", "app/.env", 0, 1, overlay.Overwritten, 1},
		{"opaque", "opt/secrets/token.txt", 0, 1, overlay.Deleted, 1},
		{"zip", "app/bundle.zip!conf/app.properties", 0, -1, overlay.Present, 1},
		{"live", "app/live.txt", 0, -1, overlay.Present, 1},
		{"zstd", "srv/zstd.txt", 2, -1, overlay.Present, 3},
		{"env", "config:env", -1, -1, overlay.Present, 2},
		{"arg", "config:history[2]", -1, -1, overlay.Present, 1},
	}
	for _, w := range want {
		fs := find(res.Findings, fp(s[w.key]))
		if len(fs) == 0 {
			t.Errorf("%s: not found; findings: %s", w.key, dump(res.Findings))
			continue
		}
		f := fs[0]
		if f.Path != w.path || layerIdx(f) != w.layer || hidden(f) != w.hidden || f.State != w.state || f.Line != w.line {
			t.Errorf("%s: got path=%s layer=%d hiddenBy=%d state=%s line=%d; want %s %d %d %s %d",
				w.key, f.Path, layerIdx(f), hidden(f), f.State, f.Line, w.path, w.layer, w.hidden, w.state, w.line)
		}
		if f.Secret != "" || strings.Contains(f.Redacted, s[w.key]) {
			t.Errorf("%s: secret leaked into the finding: %+v", w.key, f)
		}
		if f.Remediation == "" || f.Severity == "" || f.Manifest == "" || f.Platform != "linux/amd64" {
			t.Errorf("%s: incomplete finding %+v", w.key, f)
		}
		if w.layer >= 0 && (f.LayerDigest == "" || f.DiffID == "") {
			t.Errorf("%s: no layer digests", w.key)
		}
	}
	if f := find(res.Findings, fp(s["rm"])); len(f) > 0 && f[0].CreatedBy != "COPY creds /" {
		t.Errorf("createdBy = %q", f[0].CreatedBy)
	}
	if f := find(res.Findings, fp(s["empty"])); len(f) > 0 && !strings.Contains(f[0].Remediation, "still stored in layer 0") {
		t.Errorf("remediation %q", f[0].Remediation)
	}
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s:%d layer=%d state=%s %s", f.Rule, f.Path, f.Line, layerIdx(f), f.State, f.Redacted)
	}
	return b.String()
}

// TestMultiPlatformAndShared: a secret in one platform of an index is found
// with that platform; layers shared by platforms and tags are walked once.
func TestMultiPlatformAndShared(t *testing.T) {
	dir := t.TempDir()
	base := fixture.Layer{Files: []fixture.File{{Path: "etc/os-release", Body: []byte("ID=debian\n")}}}
	amd := fixture.Image{Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app/a.txt", Body: []byte("nothing\n")}}}}}
	arm := fixture.Image{Arch: "arm64", Layers: []fixture.Layer{base, {Files: []fixture.File{{Path: "app/a.txt", Body: []byte("t=" + ghp(20) + "\n")}}}}}
	fixture.WriteIndex(t, dir, "multi", amd, arm)
	fixture.WriteLayout(t, dir, "other", fixture.Image{Layers: []fixture.Layer{base}})
	targets := []Target{open(t, dir, "multi", true), open(t, dir, "other", false)}
	res, err := Run(context.Background(), targets, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	fs := find(res.Findings, fp(ghp(20)))
	if len(fs) != 1 || fs[0].Platform != "linux/arm64" || layerIdx(fs[0]) != 1 {
		t.Errorf("findings %s", dump(res.Findings))
	}
	if res.Coverage.Layers != 3 || res.Coverage.LayerRefs != 5 || res.Coverage.Images != 3 {
		t.Errorf("coverage %+v: want 3 distinct layers of 5", res.Coverage)
	}
}

// TestBuildKitCache: every layer of a cache image, in both forms, is scanned.
func TestBuildKitCache(t *testing.T) {
	for _, form := range []string{"index", "manifest"} {
		t.Run(form, func(t *testing.T) {
			dir := t.TempDir()
			layers := []fixture.Layer{
				{Files: []fixture.File{{Path: "etc/hostname", Body: []byte("x\n")}}},
				{Files: []fixture.File{{Path: "root/.npmrc", Body: []byte("//registry.npmjs.org/:_authToken=" + ghp(30) + "\n")}}},
				{Files: []fixture.File{{Path: "root/.wh..npmrc"}}},
			}
			fixture.WriteCacheLayout(t, dir, "cache", form, layers)
			res, err := Run(context.Background(), []Target{open(t, dir, "cache", true)}, Options{Engine: engine(t)})
			if err != nil {
				t.Fatal(err)
			}
			fs := find(res.Findings, fp(ghp(30)))
			if len(fs) == 0 {
				t.Fatalf("not found: %s", dump(res.Findings))
			}
			if fs[0].Kind != image.KindCache || layerIdx(fs[0]) != 1 || fs[0].State != overlay.Deleted || hidden(fs[0]) != 2 {
				t.Errorf("finding %+v", fs[0])
			}
		})
	}
}

// TestCache: a rescan is answered from the cache with the same findings,
// and the database holds no secret value.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	secretVal := ghp(40)
	fixture.WriteLayout(t, dir, "latest", fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "a/token", Body: []byte("tok " + secretVal + "\n")}, {Path: "a/x.bin", Body: []byte("\x7fELF\x00\x01")}}},
		{Files: []fixture.File{{Path: "a/.wh.token"}}},
	}})
	cdir := t.TempDir()
	cache, err := OpenCache(context.Background(), cdir)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	opts := Options{Engine: engine(t), Results: cache}
	first, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Coverage.LayersFromCache != 0 || second.Coverage.LayersFromCache != 2 {
		t.Errorf("from cache: first %d, second %d", first.Coverage.LayersFromCache, second.Coverage.LayersFromCache)
	}
	j1, _ := json.Marshal(first.Findings)
	j2, _ := json.Marshal(second.Findings)
	if !bytes.Equal(j1, j2) || len(first.Findings) != 1 || first.Findings[0].State != overlay.Deleted {
		t.Errorf("cached findings differ:\n%s\n%s", j1, j2)
	}
	c1 := first.Coverage
	c2 := second.Coverage
	c1.LayersFromCache, c2.LayersFromCache = 0, 0
	if fmt.Sprint(c1) != fmt.Sprint(c2) {
		t.Errorf("coverage differs: %+v vs %+v", c1, c2)
	}
	// KeepSecrets bypasses the cache to return the value
	third, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: engine(t), Results: cache, KeepSecrets: true})
	if err != nil || len(third.Findings) != 1 || third.Findings[0].Secret != secretVal {
		t.Errorf("KeepSecrets: %v %+v", err, third.Findings)
	}
	// no secret in the database, compressed or not
	if n := cacheRowsWithout(t, cdir, secretVal); n[layerTable] != 2 {
		t.Errorf("cache rows %v, want 2 layers", n)
	}
	// another ruleset misses the cache
	e2, _ := secret.New(secret.Options{Patterns: []string{"zzz[0-9]+"}})
	other, _ := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: e2, Results: cache})
	if other.Coverage.LayersFromCache != 0 {
		t.Errorf("different ruleset used the cache")
	}
}

// TestVerification: a layer whose content does not match its digest fails
// the run, naming the layer.
func TestVerification(t *testing.T) {
	dir := t.TempDir()
	d := fixture.WriteLayout(t, dir, "latest", fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "a", Body: []byte("hello\n")}}}}})
	_ = d
	tg := open(t, dir, "latest", false)
	blob := fixture.BlobPath(dir, tg.Images[0].Layers[0].Descriptor.Digest)
	b := fixture.Compress(t, fixture.Tar(t, []fixture.File{{Path: "a", Body: []byte("HELLO\n")}}), "gzip")
	_ = b
	// overwrite the blob with different content of a different digest
	writeFile(t, blob, b)
	_, err := Run(context.Background(), []Target{tg}, Options{Engine: engine(t)})
	if err == nil || !strings.Contains(err.Error(), "layer 0") {
		t.Errorf("err = %v", err)
	}
}

// cacheRowsWithout checks that no blob of the cache database in dir holds
// any of secrets (gzip-compressed blobs are also checked decompressed) and
// counts the rows of each table.
func cacheRowsWithout(t *testing.T, dir string, secrets ...string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "scan-cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := map[string]int{}
	for _, q := range []struct{ table, cols string }{{layerTable, "result, listing"}, {textTable, "matches, key"}} {
		rows, err := db.Query(`SELECT ` + q.cols + ` FROM ` + q.table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b []byte
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			n[q.table]++
			for _, blob := range [][]byte{a, b} {
				all := [][]byte{blob}
				if zr, err := gzip.NewReader(bytes.NewReader(blob)); err == nil {
					raw, _ := io.ReadAll(zr)
					all = append(all, raw)
				}
				for _, x := range all {
					for _, s := range secrets {
						if bytes.Contains(x, []byte(s)) {
							t.Errorf("a row of %s holds a secret value", q.table)
						}
					}
				}
			}
		}
		rows.Close()
	}
	return n
}

// TestWarmRescan: a rescan with a warm cache by a new engine (a new process)
// never compiles the rules and gives exactly the cold scan's findings
// (deleted, overwritten, opaque, archive, zstd, Env, history, attestation)
// and coverage; the cache holds none of the secrets.
func TestWarmRescan(t *testing.T) {
	img, s := hiddenImage(t)
	dir := t.TempDir()
	md := fixture.WriteLayout(t, dir, "img", img)
	md.Platform = img.Platform()
	// a provenance attestation recording a build arg
	tok := ghp(60)
	s["provenance"] = tok
	stmt := `{"predicateType":"https://slsa.dev/provenance/v0.2","predicate":{"invocation":{"parameters":{"args":{"build-arg:GH_TOKEN":"` + tok + `"}}}}}`
	ld := fixture.WriteBlob(t, dir, image.MediaTypeInToto, []byte(stmt))
	cd := fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, []byte(`{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`))
	am, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cd, Layers: []image.Descriptor{ld}})
	ad := fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, am)
	ad.Platform = &image.Platform{OS: "unknown", Architecture: "unknown"}
	ad.Annotations = map[string]string{image.AnnotationReferenceType: image.ReferenceTypeAttestation, image.AnnotationReferenceDigest: string(md.Digest)}
	ix, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{md, ad}})
	fixture.AddRef(t, dir, fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, ix), "latest")

	cdir := t.TempDir()
	scanOnce := func() (*Result, *secret.Engine) {
		t.Helper()
		e, err := secret.New(secret.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cache, err := OpenCache(context.Background(), cdir)
		if err != nil {
			t.Fatal(err)
		}
		defer cache.Close()
		res, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: e, Results: cache})
		if err != nil {
			t.Fatal(err)
		}
		return res, e
	}
	cold, ce := scanOnce()
	if !ce.Compiled() {
		t.Fatal("the cold scan did not compile the rules")
	}
	checkHidden(t, cold, s)
	if f := find(cold.Findings, fp(tok)); len(f) != 1 || !strings.HasPrefix(f[0].Path, "attestation:") {
		t.Errorf("provenance build arg: %s", dump(cold.Findings))
	}
	warm, we := scanOnce()
	if we.Compiled() {
		t.Error("the warm rescan compiled the rules")
	}
	j1, _ := json.Marshal(cold.Findings)
	j2, _ := json.Marshal(warm.Findings)
	if !bytes.Equal(j1, j2) {
		t.Errorf("warm findings differ from cold:\n%s\n%s", j1, j2)
	}
	if cold.Coverage.LayersFromCache != 0 || warm.Coverage.LayersFromCache != cold.Coverage.Layers {
		t.Errorf("layers from cache: cold %d, warm %d of %d", cold.Coverage.LayersFromCache, warm.Coverage.LayersFromCache, cold.Coverage.Layers)
	}
	c1, c2 := cold.Coverage, warm.Coverage
	c1.LayersFromCache, c2.LayersFromCache = 0, 0
	if fmt.Sprint(c1) != fmt.Sprint(c2) {
		t.Errorf("coverage differs:\n%+v\n%+v", c1, c2)
	}
	var secrets []string
	for _, v := range s {
		secrets = append(secrets, v)
	}
	if n := cacheRowsWithout(t, cdir, secrets...); n[layerTable] != 3 || n[textTable] != 2 {
		t.Errorf("cache rows %v, want 3 layers, config and attestation", n)
	}
}

// TestCacheEncoding: results and listings round-trip; damaged entries are
// errors (a miss), never a panic.
func TestCacheEncoding(t *testing.T) {
	lr := &LayerResult{Files: 3, Scanned: 2, Binary: 1, Members: 4, Bytes: 1 << 40, Size: 7,
		skips:   []skipRec{{"a.bin", "binary"}, {"é/ü", "not scanned: timed out"}},
		matches: []fileMatch{{File: "x", Match: secret.Match{RuleID: "r", Path: "x", Line: 2, Secret: "s3cr3t", Redacted: "<redacted>", Fingerprint: fp("s3cr3t")}}},
		entries: []entryRec{{P: "a", T: 5}, {P: "a/b", T: 0}, {P: "", T: 9}, {P: "l", T: uint8(layer.TypeHardlink), L: "a/b"}, {P: "../x", T: 1, U: true}},
		diffID:  image.EmptyLayerDiffID, listed: true, verified: true}
	blob, err := encodeResult(lr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeResult(blob)
	if err != nil {
		t.Fatal(err)
	}
	want := *lr
	want.entries, want.listed, want.verified = nil, false, false
	want.matches = []fileMatch{lr.matches[0]}
	want.matches[0].Match.Secret = ""
	if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
		t.Errorf("result round trip:\n%+v\n%+v", *got, want)
	}
	es, full, err := decodeListing(encodeListing(lr.entries))
	if err != nil || !full || fmt.Sprint(es) != fmt.Sprint(lr.entries) {
		t.Errorf("listing round trip: %v %v %v", es, full, err)
	}
	// A version 1 listing (count, then type and path per entry) still
	// decodes, marked as not full; so does an empty one.
	for _, old := range [][]byte{{2, 5, 1, 'a', 4, 1, 'l'}, {0}} {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(old)
		zw.Close()
		es, full, err := decodeListing(zb.Bytes())
		if err != nil || full || len(es) != int(old[0]) || len(es) > 0 && (es[1].P != "l" || es[1].L != "" || es[1].U) {
			t.Errorf("version 1 listing %v: %+v full=%v %v", old, es, full, err)
		}
	}
	for i := range blob {
		if _, err := decodeResult(blob[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAttestation: a build arg recorded in a BuildKit provenance
// attestation is found, located at the attestation blob; layers are not
// counted for it.
func TestAttestation(t *testing.T) {
	dir := t.TempDir()
	img := fixture.Image{Layers: []fixture.Layer{{Files: []fixture.File{{Path: "app/x", Body: []byte("hi\n")}}}}}
	md := fixture.WriteLayout(t, dir, "img", img)
	md.Platform = img.Platform()
	tok := ghp(50)
	stmt := `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2",` +
		`"predicate":{"invocation":{"parameters":{"args":{"build-arg:GH_TOKEN":"` + tok + `"}}}}}`
	ld := fixture.WriteBlob(t, dir, image.MediaTypeInToto, []byte(stmt))
	ld.Annotations = map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
	cd := fixture.WriteBlob(t, dir, image.MediaTypeOCIConfig, []byte(`{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`))
	am, _ := json.Marshal(image.Manifest{SchemaVersion: 2, MediaType: image.MediaTypeOCIManifest, Config: cd, Layers: []image.Descriptor{ld}})
	ad := fixture.WriteBlob(t, dir, image.MediaTypeOCIManifest, am)
	ad.Platform = &image.Platform{OS: "unknown", Architecture: "unknown"}
	ad.Annotations = map[string]string{image.AnnotationReferenceType: image.ReferenceTypeAttestation, image.AnnotationReferenceDigest: string(md.Digest)}
	ix, _ := json.Marshal(image.Index{SchemaVersion: 2, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{md, ad}})
	fixture.AddRef(t, dir, fixture.WriteBlob(t, dir, image.MediaTypeOCIIndex, ix), "latest")
	res, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	fs := find(res.Findings, fp(tok))
	if len(fs) != 1 || fs[0].Kind != image.KindAttestation || fs[0].Layer != nil ||
		!strings.HasPrefix(fs[0].Path, "attestation:"+string(ld.Digest)) || !strings.Contains(fs[0].Remediation, "attestation") {
		t.Fatalf("findings %s", dump(res.Findings))
	}
	if res.Coverage.Attestations != 1 || res.Coverage.Layers != 1 {
		t.Errorf("coverage %+v", res.Coverage)
	}
}

// TestProgress: the progress callback ends with every compressed byte of
// the walked layers read, against the right total.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20) // several 1 MiB progress steps per layer
	for i := range big {
		big[i] = byte(i*7 + i/5)
	}
	fixture.WriteLayout(t, dir, "v", fixture.Image{Layers: []fixture.Layer{
		{Compression: "none", Files: []fixture.File{{Path: "a", Body: big}}},
		{Compression: "none", Files: []fixture.File{{Path: "b", Body: big[:2<<20]}}},
	}})
	tg := open(t, dir, "v", false)
	var want int64
	for _, l := range tg.Images[0].Layers {
		want += l.Descriptor.Size
	}
	eng, err := secret.New(secret.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lastRead, lastTotal int64
	calls := 0
	_, err = Run(context.Background(), []Target{tg}, Options{Engine: eng, Progress: func(read, total int64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if read < lastRead {
			t.Errorf("progress went backwards: %d after %d", read, lastRead)
		}
		lastRead, lastTotal = read, total
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 3 || lastRead != want || lastTotal != want {
		t.Fatalf("%d calls, last %d of %d; want %d of %d", calls, lastRead, lastTotal, want, want)
	}
}

// TestEncodedFinding: a base64-encoded secret in a Kubernetes Secret is
// reported with its encoding, the encoded line and the decoded value's
// fingerprint, the same from the cache.
func TestEncodedFinding(t *testing.T) {
	dir := t.TempDir()
	tok := ghp(41)
	manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: gh\ndata:\n  token: " +
		base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN="+tok)) + "\n"
	fixture.WriteLayout(t, dir, "latest", fixture.Image{Layers: []fixture.Layer{
		{Files: []fixture.File{{Path: "deploy/secret.yaml", Body: []byte(manifest)}}},
	}})
	cache, err := OpenCache(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	for _, from := range []string{"scan", "cache"} {
		res, err := Run(context.Background(), []Target{open(t, dir, "latest", false)}, Options{Engine: engine(t), Results: cache})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 1 {
			t.Fatalf("%s: findings %s", from, dump(res.Findings))
		}
		f := res.Findings[0]
		if f.Encoding != "base64" || f.Line != 6 || f.Path != "deploy/secret.yaml" || f.Fingerprint != fp(tok) {
			t.Errorf("%s: %+v", from, f)
		}
		if j, _ := json.Marshal(f); !bytes.Contains(j, []byte(`"encoding":"base64"`)) {
			t.Errorf("%s: JSON %s", from, j)
		}
	}
}
