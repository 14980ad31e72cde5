// Command gen writes the sample image that strata's README scans:
// examples/leaky-app, an OCI image layout built with Go's tar writer.
//
// The image looks like a small app build that tried to clean up after
// itself: a .env with a token copied in and deleted in the next step, an SSH
// key left under an opaque-replaced directory, an AWS key passed as a build
// arg (it stays in the config history), a GitHub token in the config's ENV
// (checksum-valid, as GitHub mints them), and a zstd layer. Every secret here
// is fake, made for this sample. Output is deterministic: same bytes every
// run.
//
//	go run ./examples/gen [-o examples/leaky-app]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/ocidir"
)

var epoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

type file struct {
	path, body, link string
	typ              byte
	mode             int64
}

type step struct {
	createdBy string
	files     []file // nil: empty layer
	zstd      bool
}

func main() {
	out := flag.String("o", "examples/leaky-app", "output OCI layout directory")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func steps() []step {
	osRelease := "PRETTY_NAME=\"Sample Linux 1.0\"\nID=sample\n"
	return []step{
		{createdBy: "ADD rootfs.tar /", files: []file{
			{path: "bin", typ: tar.TypeDir}, {path: "etc", typ: tar.TypeDir}, {path: "usr", typ: tar.TypeDir},
			{path: "usr/bin", typ: tar.TypeDir}, {path: "tmp", typ: tar.TypeDir, mode: 0o1777},
			{path: "etc/os-release", body: osRelease},
			{path: "etc/passwd", body: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"},
			{path: "etc/shadow", body: "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n", mode: 0o640},
			{path: "bin/sh", body: "\x7fELF\x02\x01\x01\x00fake-shell-binary\x00\x00", mode: 0o755},
			{path: "usr/bin/env", typ: tar.TypeSymlink, link: "../../bin/sh"},
		}},
		{createdBy: "ENV APP_HOME=/app"},
		{createdBy: "COPY . /app # buildkit", files: []file{
			{path: "app", typ: tar.TypeDir},
			{path: "app/main.py", body: "import os\nprint('hello from', os.environ.get('APP_HOME'))\n"},
			{path: "app/.env", body: "DEBUG=false\nSTRIPE_API_KEY=sk_live_51Mq8ZtKd9vR2xW7pL3nB6cY4hJ0gF5aT\nDATABASE_URL=postgres://app:hunter2-not-real@db:5432/app\n"},
			{path: "app/.ssh", typ: tar.TypeDir, mode: 0o700},
			{path: "app/.ssh/id_ed25519", mode: 0o600, body: "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
				"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
				"QyNTUxOQAAACBzYW1wbGUta2V5LWZvci1zdHJhdGEtZGVtby0wMDAwMDAwAAAAoHNhbXBs\n" +
				"ZS1rZXktZm9yLXN0cmF0YS1kZW1vLTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMD\n" +
				"-----END OPENSSH PRIVATE KEY-----\n"},
		}},
		{createdBy: "RUN |1 AWS_SECRET_ACCESS_KEY=Zt9qW3eR7tY1uI5oP8aS2dF6gH0jK4lX9cV3bN7m /bin/sh -c pip install -r requirements.txt && rm /app/.env # buildkit",
			zstd: true, files: []file{
				{path: "app/.wh..env"},
				{path: "app/requirements.txt", body: "flask==3.0.0\n"},
			}},
		{createdBy: "RUN rm -rf /app/.ssh && mkdir /app/.ssh # buildkit", files: []file{
			{path: "app/.ssh", typ: tar.TypeDir, mode: 0o700},
			{path: "app/.ssh/.wh..wh..opq"},
		}},
		{createdBy: `CMD ["python3", "/app/main.py"]`},
	}
}

func write(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	var layers []image.Descriptor
	var diffIDs []image.Digest
	var history []image.History
	for _, s := range steps() {
		h := image.History{Created: &epoch, CreatedBy: s.createdBy, EmptyLayer: s.files == nil}
		history = append(history, h)
		if s.files == nil {
			continue
		}
		raw, err := tarOf(s.files)
		if err != nil {
			return err
		}
		diffIDs = append(diffIDs, image.FromBytes(raw))
		mt, blob := image.MediaTypeOCILayerGzip, gz(raw)
		if s.zstd {
			mt, blob = image.MediaTypeOCILayerZstd, zst(raw)
		}
		d, err := ocidir.PutBlob(dir, mt, blob)
		if err != nil {
			return err
		}
		layers = append(layers, d)
	}
	cfg := image.Config{Architecture: "amd64", OS: "linux", Created: &epoch,
		Config: image.ContainerConfig{
			Env:        []string{"PATH=/usr/bin:/bin", "APP_HOME=/app", "GITHUB_TOKEN=" + githubToken("ghp_", "leaky-app sample GITHUB_TOKEN")},
			Cmd:        []string{"python3", "/app/main.py"},
			WorkingDir: "/app",
			Labels:     map[string]string{"org.opencontainers.image.title": "leaky-app", "maintainer": "demo@example.com"},
		},
		RootFS: image.RootFS{Type: "layers", DiffIDs: diffIDs}, History: history}
	_, err := ocidir.WriteImage(dir, "latest", cfg, layers)
	return err
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// githubToken mints a fake token in GitHub's published format: the prefix,
// 30 base62 characters, then the CRC32 (IEEE) of those 30 characters in
// base62, left-padded to 6 characters. The 30 characters are drawn from
// SHA-256 of seed, so the token looks random, passes the checksum scanners
// apply, and is the same on every run. It belongs to no GitHub account.
// https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
func githubToken(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	random := make([]byte, 30)
	for i := range random {
		random[i] = base62[int(sum[i])%len(base62)]
	}
	check := crc32.ChecksumIEEE(random)
	suffix := make([]byte, 6)
	for i := len(suffix) - 1; i >= 0; i-- {
		suffix[i] = base62[check%62]
		check /= 62
	}
	return prefix + string(random) + string(suffix)
}

func tarOf(files []file) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		typ, mode := f.typ, f.mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = map[byte]int64{tar.TypeDir: 0o755, tar.TypeSymlink: 0o777}[typ]
			if mode == 0 {
				mode = 0o644
			}
		}
		h := &tar.Header{Name: f.path, Typeflag: typ, Mode: mode, Linkname: f.link, ModTime: epoch, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return b.Bytes(), err
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func zst(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	return enc.EncodeAll(b, nil)
}
