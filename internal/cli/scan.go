package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/internal/progress"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

func init() { register(newScanCmd) }

type scanFlags struct {
	rules, patterns []string
	ignore          string
	scanBinaries    bool
	showSecrets     bool
	failOn          string
	minConfidence   string
	cacheDir        string
	noCache         bool
	allTags         bool
	catalogs        []string
	maxFileBytes    int64
	fileTimeout     time.Duration
	archiveDepth    int
	bases           string
	verify          verifyFlags
}

func newScanCmd(g *Globals) *cobra.Command {
	var sf scanFlags
	cmd := &cobra.Command{
		Use:   "scan IMAGE...",
		Short: "Find every secret an image carries: every layer's files (deleted ones too, and inside archives), config, history, attestations, caches",
		Long: `Scan images for secrets. Every regular file of every layer is read, including files a later layer deleted
or overwrote, and members of zip/jar/tar/gzip archives inside layers; so are the config's Env, Labels, Cmd,
Entrypoint and every history step (build args leak there), BuildKit attestations and every layer of a
BuildKit cache image. Every platform of an index is scanned unless --platform narrows it.

Each finding says where it is, which build step put it there, and whether the final image still shows it
(present) or a later layer hid it (deleted / overwritten: still recoverable from the image). Values are
redacted; the fingerprint (sha256 of the value) matches findings across images without revealing them.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
		Example: `  strata scan oci:examples/leaky-app:latest
  strata scan --fail-on high --format sarif oci:examples/leaky-app:latest > strata.sarif
  strata scan --format html oci:examples/leaky-app:latest > report.html
  strata scan --all-tags registry.example/team/app --format sarif > strata.sarif
  strata scan --catalog registry.example --fail-on high
  strata scan --pattern 'FLAG\{[^}]+\}' docker-archive:image.tar`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && len(sf.catalogs) == 0 {
				return errors.New("scan needs an IMAGE or --catalog REGISTRY")
			}
			return nil
		},
		RunE:              func(cmd *cobra.Command, args []string) error { return runScan(cmd, g, &sf, args) },
		ValidArgsFunction: completeRef,
	}
	withFormats(cmd, report.FormatTable, report.FormatJSON, report.FormatSARIF, report.FormatHTML)
	f := cmd.Flags()
	f.StringArrayVar(&sf.rules, "rules", nil, "extra rules file in gitleaks TOML format (repeatable)")
	f.StringArrayVar(&sf.patterns, "pattern", nil, "extra one-off rule as a regular expression (repeatable)")
	f.StringVar(&sf.ignore, "ignore", "", "file of findings to suppress: fingerprint:sha256:..., rule:ID, path:GLOB lines")
	f.BoolVar(&sf.scanBinaries, "scan-binaries", false, "scan binary files too (skipped and counted by default)")
	f.BoolVar(&sf.showSecrets, "show-secrets", false, "print secret values in clear (the only way to see them)")
	f.StringVar(&sf.failOn, "fail-on", "any", "exit 1 when a finding is at or above this severity: any, low, medium, high, critical, none")
	f.StringVar(&sf.minConfidence, "min-confidence", "keyword", "report only findings of at least this confidence: keyword (all) or format (exact provider formats and checksums)")
	f.StringVar(&sf.cacheDir, "cache-dir", "", "per-layer result cache directory (default: the user cache dir/strata)")
	f.BoolVar(&sf.noCache, "no-cache", false, "neither read nor write the layer cache")
	f.BoolVar(&sf.allTags, "all-tags", false, "scan every tag of each registry repository named")
	f.StringArrayVar(&sf.catalogs, "catalog", nil, "scan every tag of every repository of this registry (/v2/_catalog)")
	f.Int64Var(&sf.maxFileBytes, "max-file-bytes", 256<<20, "bytes scanned per file at most (the rest is reported as skipped)")
	f.DurationVar(&sf.fileTimeout, "file-timeout", 10*time.Second, "time spent on one file at most (reported as skipped)")
	f.IntVar(&sf.archiveDepth, "archive-depth", 2, "nesting depth of archives opened inside layers (0: none)")
	f.StringVar(&sf.bases, "bases", "", basesHelp)
	addListFlags(f, g)
	sf.verify.add(f)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", completeWords("any", "low", "medium", "high", "critical", "none", "active"))
	_ = cmd.RegisterFlagCompletionFunc("verify", completeWords("on", "plan"))
	_ = cmd.MarkFlagFilename("rules", "toml")
	_ = cmd.MarkFlagFilename("ignore")
	_ = cmd.MarkFlagDirname("cache-dir")
	_ = cmd.MarkFlagFilename("bases", "db")
	cmd.MarkFlagsMutuallyExclusive("no-cache", "cache-dir")
	return cmd
}

// scanRun is one run of the scan command: the state its phases pass on.
type scanRun struct {
	g          *Globals
	sf         *scanFlags
	verifyMode string
	refs       []string
	targets    []scan.Target
	cache      *scan.Cache
	// closers release the opened images and the cache, in the order they
	// were opened; close runs them last to first.
	closers []func() error
}

func runScan(cmd *cobra.Command, g *Globals, sf *scanFlags, args []string) error {
	ctx := cmd.Context()
	r := &scanRun{g: g, sf: sf}
	defer r.close()
	eng, err := r.engine()
	if err != nil {
		return err
	}
	if err := r.open(ctx, args); err != nil {
		return err
	}
	res, err := r.scan(ctx, eng)
	if err != nil {
		return err
	}
	if r.verifyMode != "" {
		if err := runVerify(ctx, g, &sf.verify, r.verifyMode, res, r.targets, r.cache); err != nil {
			return err
		}
		if !sf.showSecrets {
			for i := range res.Findings {
				res.Findings[i].Secret = ""
			}
		}
		if r.verifyMode == "plan" {
			return nil
		}
	}
	if err := r.write(ctx, res); err != nil {
		return err
	}
	return r.exitStatus(res)
}

// close releases what the run opened, last opened first.
func (r *scanRun) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		_ = r.closers[i]()
	}
}

// engine checks the flags and builds the secret engine.
func (r *scanRun) engine() (*secret.Engine, error) {
	g, sf := r.g, r.sf
	verifyMode, err := sf.verify.enabled()
	if err != nil {
		return nil, err
	}
	r.verifyMode = verifyMode
	if sf.failOn == "active" {
		if verifyMode != "on" {
			return nil, errors.New("--fail-on active needs --verify: only a verified finding can be active")
		}
	} else if err := report.ValidSeverity(sf.failOn); err != nil {
		return nil, err
	}
	if err := checkBasesFlag(g, sf.bases); err != nil {
		return nil, err
	}
	if secret.ConfidenceRank(sf.minConfidence) == 0 {
		return nil, fmt.Errorf("unknown --min-confidence %q: use keyword or format", sf.minConfidence)
	}
	depth := sf.archiveDepth
	if depth == 0 {
		depth = -1
	}
	return secret.New(secret.Options{RulesFiles: sf.rules, Patterns: sf.patterns, IgnoreFile: sf.ignore,
		ScanBinaries: sf.scanBinaries, MaxFileBytes: sf.maxFileBytes, FileTimeout: sf.fileTimeout, MaxArchiveDepth: depth, Logger: g.Log})
}

// open expands --all-tags and --catalog into references and opens every
// image.
func (r *scanRun) open(ctx context.Context, args []string) error {
	g, sf := r.g, r.sf
	r.refs = args
	if sf.allTags || len(sf.catalogs) > 0 {
		client, err := g.registryClient()
		if err != nil {
			return err
		}
		if r.refs, err = source.Expand(ctx, client, args, source.ExpandOptions{AllTags: sf.allTags, Catalogs: sf.catalogs}); err != nil {
			return err
		}
	}
	for _, ref := range r.refs {
		// Every platform of an index unless --platform narrows it.
		o, err := g.openImageAll(ctx, ref, g.AllPlatforms || g.Platform == "")
		if err != nil {
			return err
		}
		r.closers = append(r.closers, o.Close)
		r.targets = append(r.targets, scan.Target{Ref: ref, Store: o.store, Root: o.root, Images: o.images})
	}
	return nil
}

// scan runs the engine over the opened images, through the layer cache
// unless --no-cache.
func (r *scanRun) scan(ctx context.Context, eng *secret.Engine) (*scan.Result, error) {
	g, sf := r.g, r.sf
	bar := progress.New(g.Stderr, "scanning", 0, progress.Enabled(g.Stderr, g.Quiet))
	// Verification needs the values, which the layer cache never holds:
	// layers are read again. The HTML report keeps them in memory only to
	// scrub them from every text of the page; it never writes them.
	opts := scan.Options{Engine: eng, KeepSecrets: sf.showSecrets || r.verifyMode != "" || g.Format == report.FormatHTML,
		MinConfidence: sf.minConfidence, Logger: g.Log, Progress: bar.Update}
	if !sf.noCache {
		c, err := scan.OpenCache(ctx, sf.cacheDir)
		if err != nil {
			g.Log.Warn("layer cache unavailable; scanning without it", "err", err)
		} else {
			r.closers = append(r.closers, c.Close)
			opts.Results, r.cache = c, c
		}
	}
	res, err := scan.Run(ctx, r.targets, opts)
	bar.Done()
	if err != nil {
		return nil, err
	}
	if !g.Verbose {
		// Binary files are counted (coverage.binarySkipped) and listed only
		// with --verbose; other skips (limits, timeouts) are always listed.
		kept := res.Coverage.Skipped[:0]
		for _, sk := range res.Coverage.Skipped {
			if !strings.HasPrefix(sk.Reason, "binary") {
				kept = append(kept, sk)
			}
		}
		res.Coverage.Skipped = kept
	}
	return res, nil
}

// write prints the findings in the chosen format.
func (r *scanRun) write(ctx context.Context, res *scan.Result) error {
	g, sf := r.g, r.sf
	report.NormalizeFindings(res, sf.showSecrets)
	var err error
	switch g.Format {
	case report.FormatJSON:
		err = report.JSON(g.Stdout, res)
	case report.FormatSARIF:
		err = report.SARIF(g.Stdout, res, ReadBuildInfo().Version)
	case report.FormatHTML:
		rep := report.ScanHTML(r.refs, r.targets, res, ReadBuildInfo().Version)
		if rep.Provenance, err = htmlProvenance(ctx, g, sf.bases, r.targets); err == nil {
			err = report.HTML(g.Stdout, rep)
		}
	default:
		err = report.FindingsTable(g.Stdout, res, sf.showSecrets, g.Verbose)
	}
	return err
}

// exitStatus applies --fail-on to the findings.
func (r *scanRun) exitStatus(res *scan.Result) error {
	failOn := r.sf.failOn
	if failOn == "active" {
		if anyActive(res) {
			return WithExitCode(ExitFindings, nil)
		}
		return nil
	}
	if failOn != "none" {
		for _, f := range res.Findings {
			if report.SeverityAtLeast(f.Severity, failOn) {
				return WithExitCode(ExitFindings, nil)
			}
		}
	}
	return nil
}
