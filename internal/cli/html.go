package cli

import (
	"context"
	"fmt"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/provenance"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

// scanHTML is the HTML report of a scan: every scanned image with its
// layers as the manifest lists them (the timeline), and the findings.
func scanHTML(refs []string, targets []scan.Target, res *scan.Result) report.HTMLReport {
	rep := report.HTMLReport{Command: "scan", References: refs, Version: ReadBuildInfo().Version, Scanned: true, Findings: res.Findings}
	for _, t := range targets {
		for _, im := range t.Images {
			rep.Images = append(rep.Images, report.HTMLImage{Reference: t.Ref, Platform: im.Platform.String(), Kind: im.Kind,
				Manifest: im.Manifest.Digest, Layers: manifestLayers(im)})
		}
	}
	return rep
}

// inspectHTML is the HTML report of inspect's output, build steps masked.
func inspectHTML(out report.Inspection) report.HTMLReport {
	rep := report.HTMLReport{Command: "inspect", References: []string{out.Reference}, Version: ReadBuildInfo().Version}
	for _, im := range out.Images {
		layers := append([]inspect.LayerInfo(nil), im.Layers...)
		for i := range layers {
			layers[i].CreatedBy = createdBy(layers[i].CreatedBy)
		}
		rep.Images = append(rep.Images, report.HTMLImage{Reference: out.Reference, Platform: im.Platform, Kind: im.Kind,
			Manifest: im.Manifest.Digest, Layers: layers, Walked: im.Walked, WastedBytes: im.WastedBytes,
			Changes: im.Changes, Omitted: im.Omitted})
	}
	return rep
}

// manifestLayers is im's layers as its manifest and config list them,
// build steps masked, without walking them.
func manifestLayers(im *image.Image) []inspect.LayerInfo {
	var out []inspect.LayerInfo
	for _, l := range im.Layers {
		li := inspect.LayerInfo{Index: l.Index, Digest: l.Descriptor.Digest, DiffID: l.DiffID, MediaType: l.Descriptor.MediaType,
			Size: l.Descriptor.Size, HistoryIndex: l.HistoryIndex}
		if l.History != nil {
			li.CreatedBy = createdBy(l.History.CreatedBy)
		}
		out = append(out, li)
	}
	return out
}

// maxHTMLChanges bounds the entries listed per layer in the HTML report, so
// a layer of 100k files stays a page a browser opens.
const maxHTMLChanges = 200

// layerChanges lists each layer's entries for the HTML report, those a
// later layer hid (still recoverable) first, at most limit per layer; the
// second result counts what was left out of each.
func layerChanges(a *inspect.Analysis, limit int) ([][]report.HTMLChange, []int) {
	if a.Listing == nil {
		return nil, nil
	}
	changes := make([][]report.HTMLChange, len(a.Listing.Layers))
	omitted := make([]int, len(a.Listing.Layers))
	for i, entries := range a.Listing.Layers {
		var hidden, rest []report.HTMLChange
		for j, e := range entries {
			r := a.Listing.States[i][j]
			c := report.HTMLChange{Path: e.Path, Type: e.Type.String(), Size: e.Size, State: r.State, HiddenBy: r.HiddenBy}
			if r.HiddenBy >= 0 {
				hidden = append(hidden, c)
			} else {
				rest = append(rest, c)
			}
		}
		all := append(hidden, rest...)
		if len(all) > limit {
			omitted[i], all = len(all)-limit, all[:limit]
		}
		changes[i] = all
	}
	return changes, omitted
}

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
