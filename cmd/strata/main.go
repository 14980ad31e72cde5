// Command strata is container-image forensics and registry hygiene; see
// internal/cli for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/stratascan/strata/internal/cli"
)

//go:generate go run ../../internal/cmd/gendocs -out ../../docs

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
