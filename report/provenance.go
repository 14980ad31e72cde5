package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stratascan/strata/provenance"
)

// ProvenanceHeaders are the columns of a provenance verdict table.
var ProvenanceHeaders = []string{"IMAGE", "PLATFORM", "STATUS", "BASE", "LAYERS (BASE+APP)", "NOTE"}

// ProvenanceRows words each result of a base check as one row under
// ProvenanceHeaders: the image, its status, the approved base it is built
// on, how many layers are the base's and the application's, and why it is
// stale, has no base or could not be read.
func ProvenanceRows(rs []provenance.Result) [][]string {
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		base, layers, note := "-", "-", ""
		switch r.Status {
		case provenance.StatusError:
			note = r.Error
		case provenance.StatusNoBase:
			layers = strconv.Itoa(r.Layers)
			note = "no approved base"
		default:
			base = fmt.Sprintf("%s %s", r.Base.Name, r.Base.Digest.Short())
			layers = fmt.Sprintf("%d+%d", r.BaseLayers, r.AppLayers)
			if r.Stale {
				note = fmt.Sprintf("newer approved: %s %s", r.Newest.Reference, r.Newest.Digest.Short())
			}
		}
		rows = append(rows, []string{r.Reference, OrDash(r.Platform), string(r.Status), base, layers, note})
	}
	return rows
}

// ProvenanceSummary is the one-line count of a check's verdicts.
func ProvenanceSummary(s provenance.Summary) string {
	return fmt.Sprintf("%s checked against %s: %d ok, %d stale, %d without an approved base, %d unreadable",
		Plural(s.Checked, "image", "images"), Plural(s.Bases, "approved base", "approved bases"), s.OK, s.Stale, s.NoBase, s.Errors)
}

// ProvenanceTable writes the verdict of every result and, unless quiet,
// the summary line.
func ProvenanceTable(w io.Writer, rs []provenance.Result, bases int, quiet bool) error {
	if err := Table(w, ProvenanceHeaders, ProvenanceRows(rs)); err != nil {
		return err
	}
	if !quiet {
		_, err := fmt.Fprintf(Unwrap(w), "\n%s\n", ProvenanceSummary(provenance.Summarize(rs, bases)))
		return err
	}
	return nil
}

// ProvenanceJSON writes the results and their summary as one document.
func ProvenanceJSON(w io.Writer, rs []provenance.Result, bases int) error {
	if rs == nil {
		rs = []provenance.Result{}
	}
	return JSON(w, struct {
		Results []provenance.Result `json:"results"`
		Summary provenance.Summary  `json:"summary"`
	}{rs, provenance.Summarize(rs, bases)})
}

// OrDash is s, or "-" when s is empty (a table cell with nothing in it).
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// HTMLProvenance is the base check of an HTML report's images: the verdict
// of every image against an index of Bases approved bases.
type HTMLProvenance struct {
	Results []provenance.Result
	Bases   int
}

type provenanceView struct {
	Summary string
	Headers []string
	Rows    []provenanceRow
}

type provenanceRow struct {
	Status string
	Cells  []string
}

// newProvenanceView lays out p as the table output words it.
func newProvenanceView(p *HTMLProvenance, scrub func(string) string) *provenanceView {
	if p == nil {
		return nil
	}
	v := &provenanceView{Summary: ProvenanceSummary(provenance.Summarize(p.Results, p.Bases))}
	for _, h := range ProvenanceHeaders {
		v.Headers = append(v.Headers, strings.ToLower(h))
	}
	for i, cells := range ProvenanceRows(p.Results) {
		for j := range cells {
			cells[j] = scrub(cells[j])
		}
		v.Rows = append(v.Rows, provenanceRow{Status: string(p.Results[i].Status), Cells: cells})
	}
	return v
}

// Bases writes approved bases as a table: name, platform, created time,
// layer count, digest and reference.
func Bases(w io.Writer, bs []provenance.Base) error {
	rows := make([][]string, 0, len(bs))
	for _, b := range bs {
		cr := "-"
		if b.Created != nil {
			cr = b.Created.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{b.Name, OrDash(b.Platform), cr, strconv.Itoa(len(b.DiffIDs)), b.Digest.Short(), b.Reference})
	}
	return Table(w, []string{"NAME", "PLATFORM", "CREATED", "LAYERS", "DIGEST", "REFERENCE"}, rows)
}

// BasesJSON writes approved bases as the store's export document.
func BasesJSON(w io.Writer, bs []provenance.Base) error {
	return provenance.WriteDocument(Unwrap(w), bs)
}

// BasesApproved says which bases were approved, and how many of them were
// new to the store at path.
func BasesApproved(w io.Writer, bs []provenance.Base, added int, path string) {
	w = Unwrap(w)
	for _, b := range bs {
		fmt.Fprintf(w, "approved %s %s %s (%s, chain %s)\n", b.Name, OrDash(b.Platform), b.Digest, Plural(len(b.DiffIDs), "layer", "layers"), b.TopChainID().Short())
	}
	fmt.Fprintf(w, "%d new, %d updated in %s\n", added, len(bs)-added, path)
}

// BasesRemoved says which bases were withdrawn.
func BasesRemoved(w io.Writer, bs []provenance.Base) {
	for _, b := range bs {
		fmt.Fprintf(Unwrap(w), "removed %s %s %s\n", b.Name, OrDash(b.Platform), b.Digest)
	}
}

// BasesImported says how many bases an import from file added to the
// store at path.
func BasesImported(w io.Writer, file string, n int, path string) {
	fmt.Fprintf(Unwrap(w), "imported %s: %s into %s\n", file, Plural(n, "new base", "new bases"), path)
}
