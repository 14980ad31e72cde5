package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/report"
)

// Exit codes, for CI gating.
const (
	ExitOK       = 0
	ExitFindings = 1 // scan found something at or above --fail-on; base check found no approved base
	ExitError    = 2
)

// ExitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// WithExitCode makes a command's error end the process with code.
func WithExitCode(code int, err error) error { return &exitError{code: code, err: err} }

// Globals are the flags every command shares and the streams it writes to.
type Globals struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Verbose        bool
	Quiet          bool
	Format         string // table | json | sarif (where supported)
	ConfigPath     string // --config
	Log            *slog.Logger

	// Registry access (see source.Options).
	Insecure      bool
	SkipTLSVerify bool
	CAFile        string
	Username      string
	PasswordStdin bool
	Platform      string
	AllPlatforms  bool
	// Registry limits: listing caps (commands that list, addListFlags), the
	// timeout of one network wait, credentials for token hosts elsewhere.
	MaxRepos, MaxTags  int
	RegistryTimeout    time.Duration
	AllowCrossHostAuth bool

	password string           // read once from stdin
	client   *registry.Client // built once per run (registryClient)
	engines  engineFlags
}

// commands is filled by init functions in this package, one file per
// command, so commands can be added without touching this file.
var commands []func(*Globals) *cobra.Command

func register(f func(*Globals) *cobra.Command) { commands = append(commands, f) }

// NewRoot builds the strata command tree writing to the given streams.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &Globals{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Container-image forensics and registry hygiene",
		Long:          "strata reads any container image without a daemon, shows what every layer added, changed and deleted,\nrecovers files (deleted ones too), finds secrets, proves base-image provenance and purges leaks from registries.",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd, g.ConfigPath); err != nil {
				return WithExitCode(ExitError, err)
			}
			if err := checkFlags(cmd); err != nil {
				return WithExitCode(ExitError, err)
			}
			if err := report.CheckFormat(g.Format, formatsOf(cmd)...); err != nil {
				return WithExitCode(ExitError, fmt.Errorf("--format: %w", err))
			}
			g.Stdout = report.StyleFor(g.Stdout)
			level := slog.LevelWarn
			if g.Verbose {
				level = slog.LevelDebug
			}
			if g.Quiet {
				level = slog.LevelError
			}
			g.Log = slog.New(slog.NewTextHandler(g.Stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "log more (debug level), list skipped items")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "log errors only, no progress bars")
	pf.BoolVar(&g.Insecure, "insecure", false, "allow plain HTTP to the registry (loopback registries)")
	pf.BoolVar(&g.SkipTLSVerify, "tls-skip-verify", false, "do not verify the registry's TLS certificate")
	pf.StringVar(&g.CAFile, "ca-file", "", "PEM file of extra CA certificates to trust for the registry")
	pf.StringVar(&g.Username, "username", "", "registry user name (password from --password-stdin)")
	pf.BoolVar(&g.PasswordStdin, "password-stdin", false, "read the registry password from standard input")
	pf.StringVar(&g.Platform, "platform", "", "pick one platform of a multi-arch image: os/arch[/variant]")
	pf.BoolVar(&g.AllPlatforms, "all-platforms", false, "work on every platform of a multi-arch image")
	pf.DurationVar(&g.RegistryTimeout, "registry-timeout", registry.DefaultResponseHeaderTimeout, "how long one registry wait (connect, TLS, response headers) may stall; body reads get twice that")
	pf.BoolVar(&g.AllowCrossHostAuth, "allow-cross-host-auth", false, "send registry credentials to a token service on another site (HTTPS only)")
	pf.StringVarP(&g.Format, "format", "o", "table", "output format: table or json (scan also: sarif, html; inspect also: html)")
	addEngineFlags(pf, g)
	pf.StringVar(&g.ConfigPath, "config", "", "config file (default $XDG_CONFIG_HOME/strata/config.yaml; env STRATA_CONFIG)")
	root.MarkFlagsMutuallyExclusive("verbose", "quiet")
	root.MarkFlagsMutuallyExclusive("platform", "all-platforms")
	_ = root.RegisterFlagCompletionFunc("format", completeFormat)
	_ = root.RegisterFlagCompletionFunc("platform", completePlatform)
	_ = root.MarkPersistentFlagFilename("ca-file", "pem", "crt")
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")
	for _, f := range commands {
		root.AddCommand(f(g))
	}
	addHints(root)
	root.SetUsageTemplate(root.UsageTemplate() + configHelp)
	wordErrors(root)
	return root
}

// Main runs strata with the process's arguments and streams and returns the
// exit code.
func Main(ctx context.Context, args []string) int {
	root := NewRoot(os.Stdin, os.Stdout, os.Stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code == ExitError {
			fmt.Fprintln(os.Stderr, "strata:", explain(ee.err))
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "strata:", explain(err))
	return ExitError
}
