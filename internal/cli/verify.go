package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/verify"
)

// testVerifyOptions lets tests point verifiers at loopback fakes. No flag,
// environment variable or config key reaches it.
var testVerifyOptions func(*verify.Options)

// verifyFlags are scan's --verify options.
type verifyFlags struct {
	mode    string // "", "on", "plan"
	hosts   []string
	ttl     time.Duration
	timeout time.Duration
}

func (vf *verifyFlags) add(f *pflag.FlagSet) {
	f.StringVar(&vf.mode, "verify", "", "check whether each secret still works with its provider's read-only identity endpoint (off by default; --verify=plan lists what would be contacted and sends nothing)")
	f.Lookup("verify").NoOptDefVal = "on"
	f.StringSliceVar(&vf.hosts, "verify-hosts", nil, "hosts named inside scanned files (registries in Docker auths, ...) that may receive the credentials found next to them ('*': any)")
	f.DurationVar(&vf.ttl, "verify-ttl", 24*time.Hour, "reuse a verdict cached by fingerprint for this long (0: always ask)")
	f.DurationVar(&vf.timeout, "verify-timeout", 10*time.Second, "time one provider request may take")
}

// enabled normalises the mode: on, plan or "" (off).
func (vf *verifyFlags) enabled() (string, error) {
	switch strings.ToLower(vf.mode) {
	case "", "off", "false", "0", "no":
		return "", nil
	case "on", "true", "1", "yes":
		return "on", nil
	case "plan":
		return "plan", nil
	}
	return "", fmt.Errorf("unknown --verify value %q: use --verify, --verify=plan or leave it off", vf.mode)
}

// runVerify checks the secrets of res (found with KeepSecrets) and records
// the verdicts, or, in plan mode, prints what would be contacted.
func runVerify(ctx context.Context, g *Globals, vf *verifyFlags, mode string, res *scan.Result, targets []scan.Target, cache *scan.Cache) error {
	opts := verify.Options{AllowHosts: vf.hosts, Timeout: vf.timeout, Logger: g.Log}
	if testVerifyOptions != nil {
		testVerifyOptions(&opts)
	}
	if cache != nil && vf.ttl > 0 {
		vc, err := cache.Verifications(ctx)
		if err != nil {
			g.Log.Warn("verification cache unavailable", "err", err)
		} else {
			opts.Cache, opts.CacheTTL = vc, vf.ttl
		}
	}
	checker := verify.New(opts)
	cands, err := scan.VerifyCandidates(ctx, res, targets, checker)
	if err != nil {
		return err
	}
	if mode == "plan" {
		plan := checker.Plan(cands)
		if g.Format == report.FormatJSON {
			return report.VerifyPlanJSON(g.Stdout, plan)
		}
		return report.VerifyPlan(g.Stdout, plan)
	}
	scan.ApplyVerification(res, checker.Check(ctx, cands))
	return nil
}

// anyActive reports whether a provider confirmed one of the secrets live.
func anyActive(res *scan.Result) bool {
	for _, f := range res.Findings {
		if f.Verification != nil && f.Verification.Status == verify.Active {
			return true
		}
	}
	return false
}
