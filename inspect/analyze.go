package inspect

import (
	"context"
	"io/fs"
	"strings"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/overlay"
)

// LayerInfo is everything strata knows about one layer after walking it.
type LayerInfo struct {
	Index        int                `json:"index"`
	Digest       image.Digest       `json:"digest"`
	DiffID       image.Digest       `json:"diffID"`
	MediaType    string             `json:"mediaType"`
	Compression  image.Compression  `json:"compression"`
	Size         int64              `json:"size"`
	Uncompressed int64              `json:"uncompressedSize"`
	Entries      int                `json:"entries"`
	CreatedBy    string             `json:"createdBy,omitempty"`
	HistoryIndex int                `json:"historyIndex"`
	Stats        overlay.LayerStats `json:"stats"`
}

// Analysis is the walked image: every layer's entries with their states.
type Analysis struct {
	Image   *image.Image
	Layers  []LayerInfo
	Listing *overlay.Listing
}

// Analyze walks every layer of im (verifying each) and computes the overlay
// listing and per-layer statistics. For a BuildKit cache image the states
// follow its parent chains (overlay.NewChainListing): an entry is present
// when some intermediate filesystem shows it.
func Analyze(ctx context.Context, s content.Store, im *image.Image, opts Options) (*Analysis, error) {
	entries, results, err := Collect(ctx, s, im, opts)
	if err != nil {
		return nil, err
	}
	return newAnalysis(im, entries, results), nil
}

func newAnalysis(im *image.Image, entries [][]*layer.Entry, results []layer.Result) *Analysis {
	a := &Analysis{Image: im}
	if im.Cache != nil {
		a.Listing = overlay.NewChainListing(entries, im.Chains())
	} else {
		a.Listing = overlay.NewListing(entries)
	}
	for i, l := range im.Layers {
		r := results[i]
		li := LayerInfo{Index: i, Digest: l.Descriptor.Digest, DiffID: r.DiffID, MediaType: l.Descriptor.MediaType,
			Compression: r.Compression, Size: r.Size, Uncompressed: r.Uncompressed, Entries: r.Entries,
			HistoryIndex: l.HistoryIndex, Stats: a.Listing.Stats[i]}
		if l.History != nil {
			li.CreatedBy = l.History.CreatedBy
		}
		a.Layers = append(a.Layers, li)
	}
	return a
}

// Wasted is the total of bytes hidden by later layers.
func (a *Analysis) Wasted() int64 {
	var n int64
	for _, l := range a.Layers {
		n += l.Stats.Wasted
	}
	return n
}

// Row is one entry of an --all-layers listing.
type Row struct {
	Layer    int           `json:"layer"`
	Path     string        `json:"path"`
	Type     layer.Type    `json:"type"`
	Size     int64         `json:"size"`
	Mode     string        `json:"mode"`
	Linkname string        `json:"linkname,omitempty"`
	State    overlay.State `json:"state"`
	HiddenBy *int          `json:"hiddenBy"`
	Unsafe   string        `json:"unsafe,omitempty"`
}

// Rows returns every entry of every layer with its state, layer by layer in
// tar order. prefix limits the rows to a path and what is below it.
func (a *Analysis) Rows(prefix string) []Row {
	prefix, _ = layer.CleanPath(prefix)
	var out []Row
	for i, es := range a.Listing.Layers {
		for j, e := range es {
			if !underPrefix(e.Path, prefix) {
				continue
			}
			out = append(out, makeRow(i, e, a.Listing.States[i][j]))
		}
	}
	return out
}

// LayerRows returns the entries of one layer.
func (a *Analysis) LayerRows(idx int, prefix string) []Row {
	prefix, _ = layer.CleanPath(prefix)
	var out []Row
	for j, e := range a.Listing.Layers[idx] {
		if underPrefix(e.Path, prefix) {
			out = append(out, makeRow(idx, e, a.Listing.States[idx][j]))
		}
	}
	return out
}

// FinalRows returns the final filesystem.
func (a *Analysis) FinalRows(prefix string) []Row {
	prefix, _ = layer.CleanPath(prefix)
	var out []Row
	for _, fe := range a.Listing.Final() {
		if underPrefix(fe.Entry.Path, prefix) {
			out = append(out, makeRow(fe.Layer, fe.Entry, overlay.Result{State: overlay.Present, HiddenBy: -1}))
		}
	}
	return out
}

func makeRow(i int, e *layer.Entry, st overlay.Result) Row {
	r := Row{Layer: i, Path: e.Path, Type: e.Type, Size: e.Size, Mode: lsMode(e.Type, e.Mode), Linkname: e.Linkname, State: st.State, Unsafe: e.Unsafe}
	if st.HiddenBy >= 0 {
		h := st.HiddenBy
		r.HiddenBy = &h
	}
	return r
}

// underPrefix reports whether p is prefix or below it; prefix must be
// clean (layer.CleanPath), "" meaning the root.
func underPrefix(p, prefix string) bool {
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix) && p[len(prefix)] == '/'
}

// lsMode formats a mode the way ls -l and tar -tv do ("drwxrwxrwt").
func lsMode(t layer.Type, m fs.FileMode) string {
	kind := map[layer.Type]byte{layer.TypeDir: 'd', layer.TypeSymlink: 'l', layer.TypeHardlink: 'h', layer.TypeChar: 'c',
		layer.TypeBlock: 'b', layer.TypeFIFO: 'p', layer.TypeWhiteout: 'w', layer.TypeOpaque: 'o'}[t]
	if kind == 0 {
		kind = '-'
	}
	b := []byte{kind, '-', '-', '-', '-', '-', '-', '-', '-', '-'}
	for i, c := range "rwxrwxrwx" {
		if m.Perm()&(1<<uint(8-i)) != 0 {
			b[i+1] = byte(c)
		}
	}
	special := func(pos int, set bool, on, off byte) {
		if !set {
			return
		}
		if b[pos] == 'x' {
			b[pos] = on
		} else {
			b[pos] = off
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
