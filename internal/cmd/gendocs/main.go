// Command gendocs writes strata's man pages (docs/man, one per command) and
// shell completion scripts (docs/completion) from the command tree, so they
// never drift from --help. Run it with go generate ./cmd/strata, or:
//
//	go run ./internal/cmd/gendocs -out docs
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/stratascan/strata/internal/cli"
)

func main() {
	out := flag.String("out", "docs", "directory to write man/ and completion/ under")
	flag.Parse()
	if err := cli.GenerateDocs(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
