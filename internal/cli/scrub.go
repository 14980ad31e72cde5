package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/scrub"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

func init() { register(newScrubCmd) }

type scrubFlags struct {
	to                      string
	replace, yes, dryRun    bool
	paths, rules, fps       []string
	findings                string
	env, labels, buildArgs  []string
	workDir, cacheDir       string
	noCache, noRescan       bool
	journalPath, resumePath string
	placeholder             bool
}

func newScrubCmd(g *Globals) *cobra.Command {
	var sf scrubFlags
	cmd := &cobra.Command{
		Use:   "scrub IMAGE (--to REF | --replace)",
		Short: "Rewrite an image without a leaked secret, every other byte kept, and write or push it (optionally replacing the old tags)",
		Long: `Rewrite an image without what leaked: files (present, overwritten or deleted later), archive members,
config values and history build args. Layers that hold nothing to remove are reused as their exact blobs
(same digest); a layer that does is re-tarred with the same headers minus the removed entries and
recompressed as it was. Before anything is written, strata checks that the result's filesystem equals the
original's except for the removed paths, that deletions stay deleted, that untouched layers kept their
digests, and (with --findings) that a rescan finds none of the removed secrets.

What to remove (combinable): --path GLOB ("/app/.env", "**/.env", "/root/.ssh"), --findings scan.json from
strata scan --format json (narrowed by --rule and --fingerprint), --env NAME, --label NAME, --build-arg NAME
(values become "<redacted by strata>" in Env, Labels and history).

--dry-run prints the plan only. --to writes to oci:DIR[:TAG], oci-archive:PATH[:TAG],
docker-archive:PATH[:REPO:TAG] or a registry. --replace pushes the result to every tag that pointed at the
old digest and hands the old digest to purge (a dry run unless --yes). Every platform of an index is scrubbed;
--platform picks the one image a docker-archive holds.`,
		Example: `  strata scan --format json registry.example/app:1.0 > scan.json
  strata scrub registry.example/app:1.0 --findings scan.json --dry-run
  strata scrub oci:examples/leaky-app:latest --path /app/.env --env GITHUB_TOKEN --to oci:clean:latest
  strata scrub registry.example/app:1.0 --findings scan.json --replace --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			if sf.resumePath != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if sf.resumePath != "" {
				return runScrubResume(cmd, g, &sf)
			}
			return runScrub(cmd, g, &sf, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.to, "to", "", "where to write the scrubbed image: oci:DIR[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REPO:TAG] or REPO:TAG")
	f.BoolVar(&sf.replace, "replace", false, "push the result to every tag of the old digest, then purge the old digest (a dry run unless --yes)")
	f.BoolVar(&sf.yes, "yes", false, "with --replace: apply the purge of the old digest")
	f.BoolVar(&sf.dryRun, "dry-run", false, "print the plan and write nothing")
	f.StringArrayVar(&sf.paths, "path", nil, "glob of paths to remove from every layer (repeatable; ** spans directories)")
	f.StringVar(&sf.findings, "findings", "", "remove what this strata scan --format json report found")
	f.StringArrayVar(&sf.rules, "rule", nil, "with --findings: only findings of this rule (repeatable)")
	f.StringArrayVar(&sf.fps, "fingerprint", nil, "with --findings: only findings with this fingerprint (repeatable)")
	f.StringArrayVar(&sf.env, "env", nil, "redact this Env variable (and NAME=value in history) (repeatable)")
	f.StringArrayVar(&sf.labels, "label", nil, "redact this label (and NAME=value in history) (repeatable)")
	f.StringArrayVar(&sf.buildArgs, "build-arg", nil, "redact this build arg's value in history (repeatable)")
	f.StringVar(&sf.workDir, "work-dir", "", "directory for the staged layers (default: the system temp dir)")
	f.StringVar(&sf.cacheDir, "cache-dir", "", "scan cache: layer listings (a layer a scan already walked is not read unless rewritten) and the rescan (default: the user cache dir/strata)")
	f.BoolVar(&sf.noCache, "no-cache", false, "read every layer and rescan without the layer cache")
	f.BoolVar(&sf.noRescan, "no-rescan", false, "skip the rescan of the result")
	f.StringVar(&sf.journalPath, "journal", "", "with --replace: journal file (default: strata-scrub-<repo>-<time>.jsonl)")
	f.StringVar(&sf.resumePath, "resume", "", "finish the interrupted scrub --replace recorded in this journal")
	f.BoolVar(&sf.placeholder, "untag-via-placeholder", false, "with --replace --yes: see strata purge --untag-via-placeholder")
	return cmd
}

// scrubOptions turns the flags into library options.
func scrubOptions(ctx context.Context, g *Globals, sf *scrubFlags) (scrub.Options, func(), error) {
	opts := scrub.Options{WorkDir: sf.workDir, Logger: g.Log, Selectors: scrub.Selectors{
		Paths: sf.paths, Env: sf.env, Labels: sf.labels, BuildArgs: sf.buildArgs}}
	cleanup := func() {}
	if sf.findings != "" {
		fh, err := os.Open(sf.findings)
		if err != nil {
			return opts, cleanup, err
		}
		fs, err := scrub.ReadFindings(fh, 256<<20)
		fh.Close()
		if err != nil {
			return opts, cleanup, fmt.Errorf("--findings %s: %w", sf.findings, err)
		}
		opts.Selectors.Findings = scrub.FilterFindings(fs, sf.rules, sf.fps)
		if len(opts.Selectors.Findings) == 0 {
			return opts, cleanup, fmt.Errorf("--findings %s: no finding left after --rule/--fingerprint", sf.findings)
		}
	} else if len(sf.rules) > 0 || len(sf.fps) > 0 {
		return opts, cleanup, errors.New("--rule and --fingerprint filter --findings: give --findings too")
	}
	if !sf.noCache {
		if cache, err := scan.OpenCache(ctx, sf.cacheDir); err == nil {
			opts.Cache = cache
			cleanup = func() { cache.Close() }
		}
	}
	if !sf.noRescan {
		eng, err := secret.New(secret.Options{Logger: g.Log})
		if err != nil {
			cleanup()
			return opts, cleanup, err
		}
		opts.Engine = eng
	}
	return opts, cleanup, nil
}

func runScrub(cmd *cobra.Command, g *Globals, sf *scrubFlags, ref string) error {
	ctx := cmd.Context()
	if sf.to == "" && !sf.replace && !sf.dryRun {
		return WithExitCode(ExitError, errors.New("say where the scrubbed image goes: --to REF, --replace, or --dry-run for the plan only"))
	}
	if sf.to != "" && sf.replace {
		return WithExitCode(ExitError, errors.New("--to and --replace exclude each other"))
	}
	opts, cleanup, err := scrubOptions(ctx, g, sf)
	defer cleanup()
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	s, err := g.openStore(ctx, ref)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	defer s.Close()
	root, err := source.Load(ctx, s, g.Log)
	if err != nil {
		return WithExitCode(ExitError, fmt.Errorf("load %s: %w", ref, err))
	}
	p, err := scrub.NewPlan(ctx, s, root, opts)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	defer p.Close()
	p.Source = ref
	if sf.replace {
		return runScrubReplace(cmd, g, sf, ref, s, p)
	}
	out := report.ScrubOutput{Plan: p}
	if !sf.dryRun {
		dest := scrub.Destination{Ref: sf.to, Insecure: g.Insecure}
		if g.Platform != "" {
			if dest.Platform, err = image.ParsePlatform(g.Platform); err != nil {
				return WithExitCode(ExitError, err)
			}
		}
		if r, _ := source.ParseReference(sf.to); r.Transport == source.TransportRegistry {
			if dest.Client, err = g.registryClient(); err != nil {
				return WithExitCode(ExitError, err)
			}
			if rs, ok := s.(*registry.Store); ok {
				dest.MountFrom = rs.Repo().Path()
			}
		}
		if out.Applied, err = p.Apply(ctx, dest); err != nil {
			return WithExitCode(ExitError, err)
		}
	}
	if out.Applied == nil {
		out.DryRun = "nothing written."
	}
	return report.Scrub(g.Stdout, g.Format, out)
}

// registryRepo returns the repository a registry store reads from.
func registryRepo(ref string, s content.Store) (*registry.Repo, error) {
	rs, ok := s.(*registry.Store)
	if !ok {
		return nil, fmt.Errorf("--replace works on registry images; %s is not one (use --to)", ref)
	}
	return rs.Repo(), nil
}

func runScrubReplace(cmd *cobra.Command, g *Globals, sf *scrubFlags, ref string, s content.Store, p *scrub.Plan) error {
	ctx := cmd.Context()
	repo, err := registryRepo(ref, s)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	if err := scrub.PlanReplace(ctx, p, repo, g.Log); err != nil {
		return WithExitCode(ExitError, err)
	}
	out := report.ScrubOutput{Plan: p}
	if sf.dryRun {
		out.DryRun = "nothing pushed or deleted."
		return report.Scrub(g.Stdout, g.Format, out)
	}
	journal := sf.journalPath
	if journal == "" {
		journal = fmt.Sprintf("strata-scrub-%s-%s.jsonl", unsafeChars.ReplaceAllString(repo.Name(), "-"), time.Now().UTC().Format("20060102T150405Z"))
	}
	sel := p.Selectors()
	out.Replace, err = scrub.Replace(ctx, p, repo, scrub.ReplaceOptions{Yes: sf.yes, Journal: journal, Selectors: sel, UntagViaPlaceholder: sf.placeholder, Logger: g.Log})
	return replaceResult(g, out, err)
}

func replaceResult(g *Globals, out report.ScrubOutput, err error) error {
	out.Failed = err != nil
	if perr := report.Scrub(g.Stdout, g.Format, out); perr != nil {
		return perr
	}
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	if r := out.Replace; r != nil && r.Verify != nil && len(r.Verify.Problems)+len(r.Verify.StillServed) > 0 {
		return WithExitCode(ExitError, errors.New("the old digest is not fully gone (see the verdict above)"))
	}
	return nil
}

func runScrubResume(cmd *cobra.Command, g *Globals, sf *scrubFlags) error {
	ctx := cmd.Context()
	rj, err := scrub.ReadReplaceJournal(sf.resumePath)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	client, err := g.registryClient()
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	repo, err := client.Repo(ctx, rj.Replace.Repository)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	ropts := scrub.ReplaceOptions{Journal: sf.resumePath, Selectors: rj.Selectors, UntagViaPlaceholder: sf.placeholder, Logger: g.Log}
	var p *scrub.Plan
	if rj.PurgeJournal == "" {
		// Make the plan again from the old digest, which the tags may no
		// longer name.
		ref := rj.Replace.Repository + "@" + string(rj.Replace.OldDigest)
		s, err := g.openStore(ctx, ref)
		if err != nil {
			return WithExitCode(ExitError, err)
		}
		defer s.Close()
		root, err := source.Load(ctx, s, g.Log)
		if err != nil {
			return WithExitCode(ExitError, fmt.Errorf("load %s: %w", ref, err))
		}
		opts, cleanup, err := scrubOptions(ctx, g, sf)
		defer cleanup()
		if err != nil {
			return WithExitCode(ExitError, err)
		}
		opts.Selectors = rj.Selectors
		if p, err = scrub.NewPlan(ctx, s, root, opts); err != nil {
			return WithExitCode(ExitError, err)
		}
		defer p.Close()
	}
	res, err := scrub.ResumeReplace(ctx, rj, p, repo, ropts)
	return replaceResult(g, report.ScrubOutput{Plan: p, Replace: res}, err)
}
