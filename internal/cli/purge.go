package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/report"
)

func init() { register(newPurgeCmd) }

// purgeOutput is the --format json document of an applied purge.
type purgeOutput struct {
	Plan    *purge.Plan   `json:"plan"`
	Result  *purge.Result `json:"result,omitempty"`
	Verify  *purge.Report `json:"verify,omitempty"`
	HandOff string        `json:"handOff"`
	Journal string        `json:"journal,omitempty"`
	Error   string        `json:"error,omitempty"`
}

func newPurgeCmd(g *Globals) *cobra.Command {
	var (
		yes, includeSharing, placeholder bool
		alsoTags, leaked                 []string
		journalPath, resumePath          string
		journalDir                       string
		listJournals                     bool
	)
	cmd := &cobra.Command{
		Use:   "purge REPO:TAG|REPO@DIGEST...",
		Short: "Remove a leaked image from a registry so it cannot be pulled, touching nothing else",
		Long: `Plan, apply and verify the removal of a leaked image from a registry repository.

Without --yes only the plan is printed (a dry run): the tags, manifests and blobs that would be
deleted, the blobs kept because surviving tags use them, other tags that would disappear with the
target's digest (refused unless named by --also-tags), multi-arch indexes listing the target, and
surviving images or BuildKit caches that contain the same leaked layer (they leak too;
--include-sharing purges them as well).

With --yes the plan is applied in a safe order (referrers and attestations, tags, indexes, child
manifests, then blobs no survivor uses), every request journalled to --journal so --resume can
finish an interrupted run; then every deleted object is checked to answer 404 and every surviving
tag to be whole, a verdict is printed, and the steps only the registry operator can take
(garbage collection, restart, hosted-registry procedures) are spelled out.

Exit status: 0 dry run, or purge verified clean; 2 refused, failed, or the leak still pullable
(blob deletes disabled, garbage collection or restart pending).`,
		Example: `  strata purge registry.example/acme/search-indexer:debug-42
  strata purge --yes --also-tags debug-latest registry.example/acme/search-indexer:debug-42
  strata purge --list-journals
  strata purge --resume ~/.local/state/strata/strata-purge-registry.example-acme-search-indexer-20260102T030405Z.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if journalDir == "" {
				var err error
				if journalDir, err = defaultJournalDir(); err != nil {
					return WithExitCode(ExitError, err)
				}
			}
			if listJournals {
				if len(args) > 0 {
					return WithExitCode(ExitError, errors.New("--list-journals takes no references"))
				}
				js, err := purge.Journals(journalDir)
				if err != nil {
					return WithExitCode(ExitError, err)
				}
				if g.Format == report.FormatJSON {
					return report.JSON(g.Stdout, js)
				}
				return report.PurgeJournals(g.Stdout, js, journalDir)
			}
			client, err := g.registryClient()
			if err != nil {
				return WithExitCode(ExitError, err)
			}
			if resumePath != "" {
				if len(args) > 0 {
					return WithExitCode(ExitError, errors.New("--resume takes the targets from the journal: give no references"))
				}
				return runResume(ctx, g, client, resumePath, placeholder)
			}
			if len(args) == 0 {
				return WithExitCode(ExitError, errors.New("name at least one REPO:TAG or REPO@DIGEST to purge"))
			}
			var leakedDigests []image.Digest
			for _, l := range leaked {
				d, err := image.ParseDigest(l)
				if err != nil {
					return WithExitCode(ExitError, fmt.Errorf("--leaked-layer: %w", err))
				}
				leakedDigests = append(leakedDigests, d)
			}
			// Group targets by repository, keeping the order given.
			var repos []string
			targets := map[string][]string{}
			for _, a := range args {
				repo, id, err := registry.ParseReference(a, g.Insecure)
				if err != nil {
					return WithExitCode(ExitError, err)
				}
				if _, ok := targets[repo]; !ok {
					repos = append(repos, repo)
				}
				targets[repo] = append(targets[repo], id)
			}
			if len(repos) > 1 && journalPath != "" {
				return WithExitCode(ExitError, errors.New("--journal names one journal: purge one repository at a time, or let strata name a journal per repository"))
			}
			// Several repositories in JSON: one array of their documents,
			// written when the last one is done (or one failed).
			emit := jsonTo(g)
			if g.Format == report.FormatJSON && len(repos) > 1 {
				docs := []any{}
				emit = func(v any) error { docs = append(docs, v); return nil }
				defer func() { _ = report.JSON(g.Stdout, docs) }()
			}
			failed := false
			for _, name := range repos {
				ok, err := purgeRepo(ctx, g, emit, client, name, targets[name], purge.Options{
					AlsoTags: alsoTags, IncludeSharing: includeSharing, LeakedLayers: leakedDigests,
				}, yes, placeholder, journalPath, journalDir)
				if err != nil {
					return WithExitCode(ExitError, err)
				}
				failed = failed || !ok
			}
			if failed {
				return WithExitCode(ExitError, errors.New("purge did not end clean (see the verdict above)"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&yes, "yes", false, "apply the plan (without it, only print the plan)")
	f.StringSliceVar(&alsoTags, "also-tags", nil, "other tags to delete with the targets (tags sharing a target's digest, tags of an index listing it)")
	f.BoolVar(&includeSharing, "include-sharing", false, "also purge surviving tags and caches that contain a leaked layer, and indexes listing a target")
	f.BoolVar(&placeholder, "untag-via-placeholder", false, "when the registry refuses tag DELETE (distribution 2.8), point the tag at a throwaway manifest and delete that")
	f.StringVar(&journalPath, "journal", "", "journal file (JSON lines) recording the plan and every request (default: strata-purge-<repo>-<time>.jsonl in --journal-dir)")
	f.StringVar(&journalDir, "journal-dir", "", "directory of purge journals (default $XDG_STATE_HOME/strata, ~/.local/state/strata)")
	f.BoolVar(&listJournals, "list-journals", false, "list the journals in --journal-dir: repository, start time, steps done, verdict")
	f.StringVar(&resumePath, "resume", "", "finish the interrupted purge recorded in this journal")
	f.StringSliceVar(&leaked, "leaked-layer", nil, "digest of the layer holding the leak (default: the target's layers above its shared base)")
	addListFlags(f, g)
	cmd.MarkFlagsMutuallyExclusive("resume", "list-journals")
	cmd.MarkFlagsMutuallyExclusive("resume", "journal")
	cmd.MarkFlagsMutuallyExclusive("yes", "list-journals")
	_ = cmd.MarkFlagFilename("resume", "jsonl")
	_ = cmd.MarkFlagDirname("journal-dir")
	return cmd
}

// jsonTo writes one JSON document to the command's output.
func jsonTo(g *Globals) func(any) error { return func(v any) error { return report.JSON(g.Stdout, v) } }

// purgeRepo plans (and with yes applies and verifies) one repository,
// giving its JSON document (with --format json) to emit. It returns false
// when the purge was refused or did not end clean.
func purgeRepo(ctx context.Context, g *Globals, emit func(any) error, client *registry.Client, name string, ids []string, opts purge.Options, yes, placeholder bool, journalPath, journalDir string) (bool, error) {
	repo, err := client.Repo(ctx, name)
	if err != nil {
		return false, err
	}
	var extra []image.Digest
	for _, id := range ids {
		if d, err := image.ParseDigest(id); err == nil {
			extra = append(extra, d)
		}
	}
	inv, err := purge.Take(ctx, repo, name, purge.InventoryOptions{Extra: extra, Logger: g.Log})
	if err != nil {
		return false, err
	}
	opts.Targets = ids
	p, err := purge.NewPlan(inv, opts)
	if err != nil {
		return false, err
	}
	if !yes {
		if g.Format == report.FormatJSON {
			return true, emit(p)
		}
		return true, report.PurgeDryRun(g.Stdout, p)
	}
	if p.Refused() {
		if g.Format == report.FormatJSON {
			_ = emit(purgeOutput{Plan: p, HandOff: purge.HandOff(p, nil, nil), Error: p.Err().Error()})
		} else {
			_ = report.PurgePlan(g.Stdout, p)
			report.PurgeFixFlags(g.Stdout, p)
		}
		return false, p.Err()
	}
	if journalPath == "" {
		if err := os.MkdirAll(journalDir, 0o700); err != nil {
			return false, fmt.Errorf("create the purge journal directory: %w", err)
		}
		journalPath = filepath.Join(journalDir, defaultJournal(name))
	}
	j, err := purge.CreateJournal(journalPath)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w (an existing journal is finished with --resume, never overwritten)", err)
		}
		return false, err
	}
	defer j.Close()
	if g.Format != report.FormatJSON {
		if err := report.PurgePlan(g.Stdout, p); err != nil {
			return false, err
		}
		fmt.Fprintf(g.Stdout, "\nApplying (journal: %s)...\n", journalPath)
	}
	res, aerr := purge.Apply(ctx, repo, p, purge.ApplyOptions{UntagViaPlaceholder: placeholder, Journal: j, Logger: g.Log, Inventory: inv})
	return finish(ctx, g, emit, repo, p, res, aerr, j, journalPath)
}

func runResume(ctx context.Context, g *Globals, client *registry.Client, path string, placeholder bool) error {
	f, err := os.Open(path)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	rp, err := purge.ReadJournal(f)
	f.Close()
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	repo, err := client.Repo(ctx, rp.Plan.Repository)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	j, err := purge.AppendJournal(path)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	defer j.Close()
	p, res, aerr := purge.Resume(ctx, repo, path, purge.ApplyOptions{UntagViaPlaceholder: placeholder, Journal: j, Logger: g.Log})
	if p == nil {
		return WithExitCode(ExitError, aerr)
	}
	if res == nil {
		return WithExitCode(ExitError, aerr)
	}
	ok, err := finish(ctx, g, jsonTo(g), repo, p, res, aerr, j, path)
	if err != nil {
		return WithExitCode(ExitError, err)
	}
	if !ok {
		return WithExitCode(ExitError, errors.New("purge did not end clean (see the verdict above)"))
	}
	return nil
}

// finish verifies an applied purge and prints the result, verdict and
// hand-off.
func finish(ctx context.Context, g *Globals, emit func(any) error, repo purge.Repository, p *purge.Plan, res *purge.Result, aerr error, j *purge.Journal, journalPath string) (bool, error) {
	out := purgeOutput{Plan: p, Result: res, Journal: journalPath}
	if aerr != nil && !errors.Is(aerr, purge.ErrDeleteUnsupported) {
		out.Error = aerr.Error()
		out.HandOff = purge.HandOff(p, res, nil)
		if g.Format == report.FormatJSON {
			_ = emit(out)
		} else {
			report.PurgeStopped(g.Stdout, aerr, journalPath)
		}
		return false, aerr
	}
	rep, err := purge.Verify(ctx, repo, p, res, purge.VerifyOptions{Logger: g.Log})
	if err != nil {
		return false, err
	}
	_ = j.Write(purge.Entry{Type: "verify", Verdict: rep.Verdict})
	out.Verify = rep
	out.HandOff = purge.HandOff(p, res, rep)
	if aerr != nil {
		out.Error = aerr.Error()
	}
	if g.Format == report.FormatJSON {
		if err := emit(out); err != nil {
			return false, err
		}
	} else {
		if err := report.PurgeResult(g.Stdout, res, rep, out.HandOff); err != nil {
			return false, err
		}
	}
	return rep.Verdict == purge.VerdictClean, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func defaultJournal(repo string) string {
	return fmt.Sprintf("strata-purge-%s-%s.jsonl", unsafeChars.ReplaceAllString(repo, "-"), time.Now().UTC().Format("20060102T150405Z"))
}

// defaultJournalDir is $XDG_STATE_HOME/strata (~/.local/state/strata):
// journals are state a later run resumes from, not files for the current
// directory. On macOS and Windows: the user config dir's strata/journals.
func defaultJournalDir() (string, error) {
	if runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
			return filepath.Join(x, "strata"), nil
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "state", "strata"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no default directory for purge journals (%v): pass --journal-dir DIR", err)
	}
	return filepath.Join(d, "strata", "journals"), nil
}
