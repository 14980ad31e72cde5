package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"fmt"
	"time"

	"github.com/ulikunitz/xz"
)

// Package files for the archive layer: what an image with an apt cache, a
// pip wheel directory and a backup holds. strata opens each of them (a .deb
// is an ar archive around xz tars, a wheel is a zip), which is where its
// memory goes, so the bench measures peak RSS on them.

// archiveLayer fills a layer with about total bytes (uncompressed, inside
// the archives) of Debian packages (8 MiB each, data.tar.xz with an 8 MiB
// dictionary as dpkg-deb writes them), .tar.xz backups (32 MiB each) and
// wheels (8 MiB each, deflate), in that proportion 4:3:3.
func archiveLayer(g *generator, total int64) error {
	for _, d := range []string{"var/", "var/cache/", "var/cache/apt/", "var/cache/apt/archives/", "srv/", "srv/backup/", "opt/", "opt/wheels/"} {
		if err := g.add(d, tar.TypeDir, nil); err != nil {
			return err
		}
	}
	kinds := []struct {
		share, each int64
		name        string
		make        func(g *generator, n int64) ([]byte, error)
	}{
		{4, 8 << 20, "var/cache/apt/archives/pkg%02d_1.0-1_amd64.deb", deb},
		{3, 32 << 20, "srv/backup/site-%02d.tar.xz", tarXz},
		{3, 8 << 20, "opt/wheels/pkg%02d-1.0-py3-none-any.whl", wheel},
	}
	for _, k := range kinds {
		for i, left := 0, total*k.share/10; left > 0; i++ {
			n := min(left, k.each)
			body, err := k.make(g, n)
			if err != nil {
				return err
			}
			if err := g.add(fmt.Sprintf(k.name, i), tar.TypeReg, body); err != nil {
				return err
			}
			left -= n
		}
	}
	return nil
}

// files writes about n bytes of generated files (text and binaries) into a
// tar stream, under dir.
func files(g *generator, n int64, dir string, tw *tar.Writer) error {
	for i := 0; n > 0; i++ {
		name, body := fmt.Sprintf("%s/f%05d.txt", dir, i), g.text(g.rng.Intn(20000)+100)
		if g.rng.Intn(4) == 0 {
			name, body = fmt.Sprintf("%s/lib%05d.so", dir, i), g.binary(g.rng.Intn(200000)+500)
		}
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Size: int64(len(body))}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
		n -= int64(len(body))
	}
	return nil
}

// xzTar is a tar of about n bytes of files, xz-compressed with an 8 MiB
// dictionary (xz -6, dpkg-deb's default).
func xzTar(g *generator, n int64, dir string) ([]byte, error) {
	var b bytes.Buffer
	zw, err := xz.WriterConfig{DictCap: 8 << 20}.NewWriter(&b)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := files(g, n, dir, tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	err = zw.Close()
	return b.Bytes(), err
}

func tarXz(g *generator, n int64) ([]byte, error) { return xzTar(g, n, "srv/www") }

// deb is a Debian binary package (deb(5)): an ar archive of debian-binary,
// control.tar.xz and data.tar.xz.
func deb(g *generator, n int64) ([]byte, error) {
	control, err := xzTar(g, 4<<10, ".")
	if err != nil {
		return nil, err
	}
	data, err := xzTar(g, n, "./usr/share/pkg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.xz", control}, {"data.tar.xz", data}} {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 1700000000, 0, 0, "100644", len(m.body))
		b.Write(m.body)
		if len(m.body)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// wheel is a zip (deflate) of about n bytes of files.
func wheel(g *generator, n int64) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; n > 0; i++ {
		body := g.text(g.rng.Intn(40000) + 100)
		w, err := zw.Create(fmt.Sprintf("pkg/mod%05d.py", i))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
		n -= int64(len(body))
	}
	err := zw.Close()
	return b.Bytes(), err
}
