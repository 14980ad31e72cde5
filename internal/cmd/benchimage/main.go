// Command benchimage makes and measures strata's benchmark images.
//
//	benchimage gen   -o DIR [-mb 400] [-layers 8] [-seed 1] [-rootfs DIR] [-archives MiB]
//	benchimage floor DIR [LAYER_INDEX...]
//
// gen writes an OCI layout (tag "latest") of about -mb MiB uncompressed in
// -layers gzip layers: text files (config-, code- and doc-like lines),
// incompressible binaries, a few large files, and later layers that
// overwrite and delete earlier files (whiteouts and an opaque directory).
// With -rootfs, the first layer is that directory tree (a debootstrap
// minbase, say) so the image holds a real distribution. With -archives, one
// more layer holds about that many MiB (uncompressed, inside the archives)
// of Debian packages, .tar.xz backups and wheels, which strata opens.
//
// floor reads every layer blob of the layout (or only the layers given by
// index) and does only what any reader must: gunzip with the standard
// library and sha256 both the compressed and the uncompressed stream, in a
// plain sequential loop. It prints seconds, CPU seconds (user+system, the
// figure that holds on a shared machine) and MB/s; scripts/bench.sh sets
// strata's time next to it.
package main

import (
	"archive/tar"
	"bufio"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/ocidir"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchimage gen|floor ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "floor":
		err = floor(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
}

var words = strings.Fields(`the of and to in is for on with as by at from this that be are or an it not
config server client request response error value key name path file data user system service version
default option enable disable timeout port host address buffer cache index layer image digest manifest
return func var const type struct interface import package if else for range switch case break continue
password_policy token_ttl secret_rotation api_endpoint database replica shard cluster node volume mount`)

type generator struct {
	rng   *rand.Rand
	tw    *tar.Writer
	bytes int64
	files int
}

func (g *generator) text(n int) []byte {
	var b strings.Builder
	for b.Len() < n {
		line := g.rng.Intn(12) + 3
		for i := 0; i < line; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[g.rng.Intn(len(words))])
		}
		if g.rng.Intn(5) == 0 {
			fmt.Fprintf(&b, " = %d", g.rng.Intn(100000))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()[:n])
}

func (g *generator) binary(n int) []byte {
	// Like a shared library: a third machine code (random), the rest
	// symbol tables and padding (compressible).
	b := make([]byte, n)
	g.rng.Read(b[:n/3])
	for i := n / 3; i < n; {
		w := words[g.rng.Intn(len(words))]
		i += copy(b[i:], w)
		if i < n {
			b[i] = 0
			i += 1 + g.rng.Intn(8)
		}
	}
	copy(b, "\x7fELF\x02\x01\x01\x00")
	return b
}

func (g *generator) add(name string, typ byte, body []byte) error {
	h := &tar.Header{Name: name, Typeflag: typ, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Size: int64(len(body))}
	if typ == tar.TypeDir {
		h.Mode, h.Size = 0o755, 0
	}
	if err := g.tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := g.tw.Write(body)
	g.bytes += int64(len(body))
	g.files++
	return err
}

func gen(args []string) error {
	fl := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fl.String("o", ".bench/image", "output OCI layout directory")
	mb := fl.Int("mb", 400, "approximate uncompressed MiB")
	layers := fl.Int("layers", 8, "number of layers")
	seed := fl.Int64("seed", 1, "random seed")
	rootfs := fl.String("rootfs", "", "directory tree to use as the first layer (e.g. a debootstrap minbase)")
	archives := fl.Int("archives", 0, "MiB of .deb, .tar.xz and .whl files in one more layer (0: none)")
	fl.Parse(args)
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	per := int64(*mb) << 20 / int64(max(*layers, 1))
	var descs []image.Descriptor
	var diffIDs []image.Digest
	var hist []image.History
	n := *layers
	if *archives > 0 {
		n++
	}
	for li := 0; li < n; li++ {
		d, diffID, files, err := writeLayer(*out, func(g *generator) error {
			g.rng = rand.New(rand.NewSource(*seed*1000 + int64(li)))
			switch {
			case li == *layers:
				return archiveLayer(g, int64(*archives)<<20)
			case li == 0 && *rootfs != "":
				return addTree(g, *rootfs)
			}
			return fillLayer(g, li, per)
		})
		if err != nil {
			return err
		}
		descs, diffIDs = append(descs, d), append(diffIDs, diffID)
		hist = append(hist, image.History{CreatedBy: fmt.Sprintf("RUN generate layer %d (%d files)", li, files)})
	}
	cfg := image.Config{OS: "linux", Architecture: "amd64", RootFS: image.RootFS{Type: "layers", DiffIDs: diffIDs}, History: hist}
	_, err := ocidir.WriteImage(*out, "latest", cfg, descs)
	return err
}

func fillLayer(g *generator, li int, per int64) error {
	dir := fmt.Sprintf("data/l%d", li)
	if err := g.add("data/", tar.TypeDir, nil); err != nil {
		return err
	}
	if err := g.add(dir+"/", tar.TypeDir, nil); err != nil {
		return err
	}
	if li > 0 {
		// Overwrite and delete some of the previous layer's files, and make
		// one of its directories opaque.
		prev := fmt.Sprintf("data/l%d", li-1)
		for i := 0; i < 200; i++ {
			if err := g.add(fmt.Sprintf("%s/t%05d.txt", prev, i), tar.TypeReg, g.text(2000)); err != nil {
				return err
			}
			if err := g.add(fmt.Sprintf("%s/.wh.t%05d.conf", prev, i+200), tar.TypeReg, nil); err != nil {
				return err
			}
		}
		if err := g.add(prev+"/sub/.wh..wh..opq", tar.TypeReg, nil); err != nil {
			return err
		}
	}
	if err := g.add(dir+"/sub/", tar.TypeDir, nil); err != nil {
		return err
	}
	for i := 0; g.bytes < per; i++ {
		var body []byte
		var name string
		switch r := g.rng.Intn(1000); {
		case r < 600:
			name, body = fmt.Sprintf("%s/t%05d.txt", dir, i), g.text(g.rng.Intn(6000)+100)
		case r < 750:
			name, body = fmt.Sprintf("%s/t%05d.conf", dir, i), g.text(g.rng.Intn(3000)+100)
		case r < 999:
			name, body = fmt.Sprintf("%s/sub/b%05d.so", dir, i), g.binary(g.rng.Intn(40000)+500)
		default:
			name, body = fmt.Sprintf("%s/big%05d.bin", dir, i), g.binary(4<<20)
		}
		if err := g.add(name, tar.TypeReg, body); err != nil {
			return err
		}
	}
	return nil
}

func addTree(g *generator, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts of a debootstrap tree are skipped
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return nil
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if !info.Mode().IsRegular() {
			h.Size = 0
			if err := g.tw.WriteHeader(h); err != nil {
				return err
			}
			g.files++
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if err := g.tw.WriteHeader(h); err != nil {
			return err
		}
		n, err := io.Copy(g.tw, f)
		g.bytes += n
		g.files++
		return err
	})
}

func writeLayer(dir string, fill func(*generator) error) (image.Descriptor, image.Digest, int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return image.Descriptor{}, "", 0, err
	}
	tmp, err := os.CreateTemp(dir, "layer-*")
	if err != nil {
		return image.Descriptor{}, "", 0, err
	}
	defer os.Remove(tmp.Name())
	ch, uh := sha256.New(), sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, ch), 1<<20)
	zw, _ := kgzip.NewWriterLevel(bw, kgzip.DefaultCompression)
	tw := tar.NewWriter(io.MultiWriter(zw, uh))
	g := &generator{tw: tw}
	if err := fill(g); err != nil {
		return image.Descriptor{}, "", 0, err
	}
	if err := tw.Close(); err != nil {
		return image.Descriptor{}, "", 0, err
	}
	zw.Close()
	bw.Flush()
	size, _ := tmp.Seek(0, io.SeekCurrent)
	tmp.Close()
	d := image.Descriptor{MediaType: image.MediaTypeOCILayerGzip, Digest: image.FromSum(ch.Sum(nil)), Size: size}
	p := ocidir.BlobPath(dir, d.Digest)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return d, "", 0, err
	}
	return d, image.FromSum(uh.Sum(nil)), g.files, os.Rename(tmp.Name(), p)
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// floor gunzips and hashes every layer of the layout in a plain loop.
func floor(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: benchimage floor LAYOUT_DIR [LAYER_INDEX...]")
	}
	dir := args[0]
	only := map[int]bool{} // layers to read (default: all)
	for _, a := range args[1:] {
		i, err := strconv.Atoi(a)
		if err != nil {
			return fmt.Errorf("layer index %q: %w", a, err)
		}
		only[i] = true
	}
	ib, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return err
	}
	var ix image.Index
	if err := json.Unmarshal(ib, &ix); err != nil {
		return err
	}
	mb, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", ix.Manifests[0].Digest.Hex()))
	if err != nil {
		return err
	}
	var m image.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return err
	}
	start := time.Now()
	var comp, uncomp int64
	buf := make([]byte, 256<<10)
	read := 0
	for li, l := range m.Layers {
		if len(only) > 0 && !only[li] {
			continue
		}
		read++
		f, err := os.Open(filepath.Join(dir, "blobs", "sha256", l.Digest.Hex()))
		if err != nil {
			return err
		}
		ch, uh := sha256.New(), sha256.New()
		zr, err := stdgzip.NewReader(io.TeeReader(bufio.NewReaderSize(f, 256<<10), ch))
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(uh, zr, buf)
		if err != nil {
			return err
		}
		io.Copy(ch, f) // the gzip trailer's tail, if any
		f.Close()
		if image.FromSum(ch.Sum(nil)) != l.Digest {
			return fmt.Errorf("layer %s: digest mismatch", l.Digest)
		}
		comp += l.Size
		uncomp += n
	}
	el := time.Since(start).Seconds()
	fmt.Printf("floor_seconds=%.3f floor_cpu_seconds=%.3f compressed_mb=%.1f uncompressed_mb=%.1f floor_mb_per_s=%.1f layers=%d\n",
		el, cpuSeconds(), float64(comp)/(1<<20), float64(uncomp)/(1<<20), float64(uncomp)/(1<<20)/el, read)
	return nil
}
