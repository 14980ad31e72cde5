package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/layer"
)

// FileRows writes a file listing (strata ls): mode, size, layer, type,
// state with the hiding layer, and the absolute path; whiteouts and opaque
// markers are explained, unsafe entries flagged.
func FileRows(w io.Writer, rows []inspect.Row) error {
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		name := ImagePath(r.Path)
		if r.Linkname != "" {
			name += " -> " + r.Linkname
		}
		state := string(r.State)
		if r.HiddenBy != nil {
			state += " by " + strconv.Itoa(*r.HiddenBy)
		}
		switch r.Type {
		case layer.TypeWhiteout:
			state, name = "-", name+"  (whiteout: hides lower layers' copy)"
		case layer.TypeOpaque:
			state, name = "-", name+"/  (opaque: hides lower layers' contents)"
		}
		if r.Unsafe != "" {
			state += " UNSAFE: " + r.Unsafe
		}
		table = append(table, []string{r.Mode, strconv.FormatInt(r.Size, 10), strconv.Itoa(r.Layer), r.Type.String(), state, name})
	}
	return Table(w, []string{"MODE", "SIZE", "LAYER", "TYPE", "STATE", "PATH"}, table)
}

// FileRowsJSON writes a file listing as a JSON array, paths absolute.
func FileRowsJSON(w io.Writer, rows []inspect.Row) error {
	out := make([]inspect.Row, len(rows))
	for i, r := range rows {
		r.Path = ImagePath(r.Path)
		out[i] = r
	}
	return JSON(w, out)
}

// HistoryImage is one image's build steps, as strata history shows them.
type HistoryImage struct {
	Platform *image.Platform
	Manifest image.Digest
	Steps    []inspect.HistoryStep
}

// History writes every image's build steps, each marked with the layer it
// made or "no layer"; several images each get a "# platform digest" title.
func History(w io.Writer, ims []HistoryImage) error {
	for _, im := range ims {
		if len(ims) > 1 {
			fmt.Fprintf(Unwrap(w), "# %s %s\n", im.Platform, im.Manifest)
		}
		rows := [][]string{}
		for _, s := range im.Steps {
			where := "no layer"
			if s.Layer != nil {
				where = fmt.Sprintf("layer %d %s %s", *s.Layer, s.Digest.Short(), Bytes(s.Size))
			}
			rows = append(rows, []string{strconv.Itoa(s.Step), s.Instruction, "# " + where})
		}
		if err := Table(w, nil, rows); err != nil {
			return err
		}
	}
	return nil
}

// HistoryJSON writes the build steps: one image's as an array, several
// images' as an array of arrays.
func HistoryJSON(w io.Writer, ims []HistoryImage) error {
	if len(ims) == 1 {
		return JSON(w, ims[0].Steps)
	}
	var all [][]inspect.HistoryStep
	for _, im := range ims {
		all = append(all, im.Steps)
	}
	return JSON(w, all)
}
