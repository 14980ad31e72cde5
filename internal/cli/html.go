package cli

import (
	"context"
	"fmt"

	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

// basesHelp is the help of scan's and inspect's --bases.
const basesHelp = "with --format html: check every image against this approved-base store (SQLite file, see strata base) and show the verdict per image"

// checkBasesFlag refuses --bases outside the HTML report, the one output
// that shows its verdict.
func checkBasesFlag(g *Globals, path string) error {
	if path != "" && g.Format != report.FormatHTML {
		return fmt.Errorf("--bases adds the base-image verdict to --format html; for a %s verdict run strata base check --bases %s", g.Format, path)
	}
	return nil
}

// htmlProvenance checks the platform images of the loaded trees against
// the approved-base store at path, reading manifests and configs only; nil
// when path is empty.
func htmlProvenance(ctx context.Context, g *Globals, path string, targets []scan.Target) (*report.HTMLProvenance, error) {
	if path == "" {
		return nil, nil
	}
	st, err := provenance.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	ix, err := st.Index(ctx)
	st.Close()
	if err != nil {
		return nil, err
	}
	want, err := g.platformFlag()
	if err != nil {
		return nil, err
	}
	p := &report.HTMLProvenance{Bases: ix.Len()}
	for _, t := range targets {
		ims, err := provenance.FromTree(ctx, t.Store, t.Root, provenance.InspectOptions{Reference: t.Ref, Platform: want, Log: g.Log})
		if err != nil {
			p.Results = append(p.Results, provenance.Result{Reference: t.Ref, Status: provenance.StatusError, Error: err.Error()})
			continue
		}
		for _, im := range ims {
			p.Results = append(p.Results, provenance.CheckImage(ix, im))
		}
	}
	return p, nil
}
