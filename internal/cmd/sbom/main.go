// Command sbom writes an SPDX 2.3 JSON software bill of materials for a Go
// binary from the module build information the Go toolchain embeds in it
// (the main module, every dependency module with its version and go.sum
// hash, the Go toolchain). The release (.goreleaser.yaml) runs it on every
// built binary:
//
//	go run ./internal/cmd/sbom -o strata.spdx.json dist/strata_linux_amd64/strata
package main

import (
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"time"
)

func main() {
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom [-o FILE] BINARY")
		os.Exit(2)
	}
	bi, err := buildinfo.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	created := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var n int64
		if _, err := fmt.Sscan(s, &n); err == nil {
			created = time.Unix(n, 0).UTC()
		}
	}
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbom:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(document(filepath.Base(flag.Arg(0)), bi, created)); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      creationInfo   `json:"creationInfo"`
	Packages          []spdxPackage  `json:"packages"`
	Relationships     []relationship `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string        `json:"name"`
	SPDXID           string        `json:"SPDXID"`
	VersionInfo      string        `json:"versionInfo"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	ExternalRefs     []externalRef `json:"externalRefs,omitempty"`
}

type externalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func pkg(m *debug.Module) spdxPackage {
	v := m.Version
	if m.Replace != nil {
		m = m.Replace
		if m.Version != "" {
			v = m.Version
		}
	}
	p := spdxPackage{Name: m.Path, SPDXID: "SPDXRef-Package-" + idUnsafe.ReplaceAllString(m.Path+"-"+v, "-"),
		VersionInfo: v, DownloadLocation: "NOASSERTION",
		ExternalRefs: []externalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + m.Path + "@" + v}}}
	if m.Sum != "" {
		// go.sum's h1: hash (a SHA-256 over the module's file listing) has
		// no SPDX checksum algorithm: it is kept as an external reference.
		p.ExternalRefs = append(p.ExternalRefs, externalRef{Category: "OTHER", Type: "go-module-sum", Locator: m.Sum})
	}
	return p
}

func document(name string, bi *buildinfo.BuildInfo, created time.Time) spdxDoc {
	main := pkg(&bi.Main)
	d := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: name,
		DocumentNamespace: "https://github.com/stratascan/strata/sbom/" + name + "-" + main.VersionInfo,
		CreationInfo:      creationInfo{Created: created.Format(time.RFC3339), Creators: []string{"Tool: strata-sbom", "Tool: " + bi.GoVersion}},
		Packages:          []spdxPackage{main},
		Relationships:     []relationship{{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID}},
	}
	for _, dep := range bi.Deps {
		p := pkg(dep)
		d.Packages = append(d.Packages, p)
		d.Relationships = append(d.Relationships, relationship{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	return d
}
