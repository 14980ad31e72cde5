package infer

import (
	"compress/gzip"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/stratascan/strata/image"
)

// Profile is one way builders compress a layer tar.
type Profile struct {
	// Name identifies the profile ("go-gzip-6").
	Name string `json:"name"`
	// Builders lists who compresses this way.
	Builders string `json:"builders"`
	// Compressor names the implementation and settings.
	Compressor string            `json:"compressor"`
	Format     image.Compression `json:"format"`
	newWriter  func(io.Writer) (io.WriteCloser, error)
}

// NewWriter returns a compressor writing to w; Close flushes the trailer.
func (p Profile) NewWriter(w io.Writer) (io.WriteCloser, error) { return p.newWriter(w) }

func stdGzip(level int) func(io.Writer) (io.WriteCloser, error) {
	return func(w io.Writer) (io.WriteCloser, error) {
		// Zero Header: MTIME 0, no name, OS 255, as moby, BuildKit and ggcr write.
		return gzip.NewWriterLevel(w, level)
	}
}

// Profiles returns the known builder profiles (FIELD-NOTES 5.1).
func Profiles() []Profile {
	return []Profile{
		{Name: "go-gzip-6", Format: image.Gzip, Compressor: "Go compress/gzip level 6, zero header",
			Builders:  "classic docker push (graphdriver store), BuildKit new layers, containerd",
			newWriter: stdGzip(gzip.DefaultCompression)},
		{Name: "go-gzip-1", Format: image.Gzip, Compressor: "Go compress/gzip level 1 (BestSpeed), zero header",
			Builders:  "go-containerregistry tools: crane append/mutate, ko, kaniko (tarball.LayerFromOpener, stream)",
			newWriter: stdGzip(gzip.BestSpeed)},
		{Name: "go-gzip-9", Format: image.Gzip, Compressor: "Go compress/gzip level 9 (BestCompression), zero header",
			Builders: "crane flatten", newWriter: stdGzip(gzip.BestCompression)},
		{Name: "pgzip-5", Format: image.Gzip, Compressor: "klauspost/pgzip default level (5), 1 MiB blocks, MTIME 00 09 6e 88",
			Builders: "podman, buildah, skopeo (containers/image)",
			newWriter: func(w io.Writer) (io.WriteCloser, error) {
				return pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
			}},
		{Name: "zstd-3", Format: image.Zstd, Compressor: "klauspost/compress zstd SpeedDefault (level 3)",
			Builders: "podman/buildah/skopeo --compression-format zstd, BuildKit compression=zstd",
			newWriter: func(w io.Writer) (io.WriteCloser, error) {
				return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
			}},
		{Name: "zstd-1", Format: image.Zstd, Compressor: "klauspost/compress zstd SpeedFastest (level 1)",
			Builders: "go-containerregistry tools with zstd (tarball.WithCompression(zstd))",
			newWriter: func(w io.Writer) (io.WriteCloser, error) {
				return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest))
			}},
	}
}

// SelectProfiles returns the named profiles, all of them for no names.
func SelectProfiles(names ...string) ([]Profile, error) {
	all := Profiles()
	if len(names) == 0 {
		return all, nil
	}
	var out []Profile
	for _, n := range names {
		found := false
		for _, p := range all {
			if p.Name == n {
				out, found = append(out, p), true
			}
		}
		if !found {
			var have []string
			for _, p := range all {
				have = append(have, p.Name)
			}
			return nil, fmt.Errorf("unknown compression profile %q (have %s)", n, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// Versions names the compressor implementations in this binary: the Go
// toolchain (stdlib compress/gzip) and the klauspost modules.
func Versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/klauspost/compress", "github.com/klauspost/pgzip":
				if d.Replace != nil {
					d = d.Replace
				}
				v[d.Path] = d.Version
			}
		}
	}
	return v
}

// Caveat is the sentence every report carries.
func Caveat() string {
	v := Versions()
	return fmt.Sprintf("These digests depend on the compressor's exact implementation and version (here %s compress/gzip, klauspost/compress %s, klauspost/pgzip %s); "+
		"Go 1.27 replaced the stdlib deflate encoder, so a pusher built with another Go or klauspost version produces other digests. "+
		"Use diff_ids/ChainIDs (strata base) to prove provenance.",
		v["go"], orUnknown(v["github.com/klauspost/compress"]), orUnknown(v["github.com/klauspost/pgzip"]))
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}
