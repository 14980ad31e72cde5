package report

import (
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/scan"
)

// ScanHTML is the HTML report of a scan of refs by strata version: every
// scanned image with its layers as the manifest lists them (the timeline,
// build steps masked), and the findings.
func ScanHTML(refs []string, targets []scan.Target, res *scan.Result, version string) HTMLReport {
	rep := HTMLReport{Command: "scan", References: refs, Version: version, Scanned: true, Findings: res.Findings}
	for _, t := range targets {
		for _, im := range t.Images {
			rep.Images = append(rep.Images, HTMLImage{Reference: t.Ref, Platform: im.Platform.String(), Kind: im.Kind,
				Manifest: im.Manifest.Digest, Layers: manifestLayers(im)})
		}
	}
	return rep
}

// InspectHTML is the HTML report of inspect's output by strata version,
// build steps masked.
func InspectHTML(out Inspection, version string) HTMLReport {
	rep := HTMLReport{Command: "inspect", References: []string{out.Reference}, Version: version}
	for _, im := range out.Images {
		layers := append([]inspect.LayerInfo(nil), im.Layers...)
		for i := range layers {
			layers[i].CreatedBy = inspect.Step(layers[i].CreatedBy, false)
		}
		rep.Images = append(rep.Images, HTMLImage{Reference: out.Reference, Platform: im.Platform, Kind: im.Kind,
			Manifest: im.Manifest.Digest, Layers: layers, Walked: im.Walked, WastedBytes: im.WastedBytes,
			Changes: im.Changes, Omitted: im.Omitted})
	}
	return rep
}

// manifestLayers is im's layers as its manifest and config list them,
// build steps masked, without walking them.
func manifestLayers(im *image.Image) []inspect.LayerInfo {
	out := inspect.ManifestLayers(im)
	for i := range out {
		out[i].CreatedBy = inspect.Step(out[i].CreatedBy, false)
	}
	return out
}

// MaxHTMLChanges bounds the entries listed per layer in the HTML report, so
// a layer of 100k files stays a page a browser opens.
const MaxHTMLChanges = 200

// LayerChanges lists each layer's entries for the HTML report, those a
// later layer hid (still recoverable) first, at most limit per layer; the
// second result counts what was left out of each.
func LayerChanges(a *inspect.Analysis, limit int) ([][]HTMLChange, []int) {
	if a.Listing == nil {
		return nil, nil
	}
	changes := make([][]HTMLChange, len(a.Listing.Layers))
	omitted := make([]int, len(a.Listing.Layers))
	for i, entries := range a.Listing.Layers {
		var hidden, rest []HTMLChange
		for j, e := range entries {
			r := a.Listing.States[i][j]
			c := HTMLChange{Path: e.Path, Type: e.Type.String(), Size: e.Size, State: r.State, HiddenBy: r.HiddenBy}
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
