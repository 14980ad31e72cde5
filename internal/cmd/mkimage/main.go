// Command mkimage assembles strata's own container image into an OCI image
// layout, ko-style: one layer holding a static binary, an /etc/passwd and
// /etc/group with a nonroot user, and the CA bundle, with no shell and no
// package manager; the config runs the binary as that user. It needs no
// Docker daemon and no base image. scripts/image.sh builds the binary and
// runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.Binary, "binary", "", "the static strata binary to ship (required)")
	flag.StringVar(&o.Out, "out", "", "OCI image layout directory to write (replaced if it exists; required)")
	flag.StringVar(&o.Tag, "tag", "latest", "ref name of the image in the layout (org.opencontainers.image.ref.name)")
	flag.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to install as /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&o.Platform, "platform", "linux/"+runtime.GOARCH, "platform of the binary: os/arch[/variant]")
	flag.StringVar(&o.Version, "version", "", "org.opencontainers.image.version label")
	flag.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision label")
	flag.Parse()
	if o.Binary == "" || o.Out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -binary and -out are required")
		flag.Usage()
		os.Exit(2)
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org) fixes every timestamp, so
	// the same binary gives the same image digest.
	o.Created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkimage: SOURCE_DATE_EPOCH=%q: %v\n", s, err)
			os.Exit(2)
		}
		o.Created = time.Unix(n, 0).UTC()
	}
	d, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s:%s %s\n", o.Out, o.Tag, d)
}
