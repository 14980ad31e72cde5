// Command strata is container-image forensics and registry hygiene; see
// internal/cli for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stratascan/strata/internal/cli"
)

//go:generate go run ../../internal/cmd/gendocs -out ../../docs

func main() { os.Exit(run()) }

// run executes the command line with a context that the first SIGINT or
// SIGTERM cancels: every command stops its reads and network waits, and
// writers finish their current record (caches, purge journals) before
// returning. A second signal exits at once with 128+signal.
func run() int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "strata: %v: stopping (send it again to exit at once)\n", s)
		cancel(fmt.Errorf("interrupted by %v", s))
		s = <-sigs
		fmt.Fprintf(os.Stderr, "strata: %v again: exiting now\n", s)
		code := 128 + 2
		if n, ok := s.(syscall.Signal); ok {
			code = 128 + int(n)
		}
		os.Exit(code)
	}()
	return cli.Main(ctx, os.Args[1:])
}
