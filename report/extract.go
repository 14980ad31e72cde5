package report

import (
	"fmt"
	"io"

	"github.com/stratascan/strata/inspect"
)

// Extraction is the JSON summary of an extraction (ExtractJSON).
type Extraction struct {
	Image     string            `json:"image"`
	Directory string            `json:"directory"`
	Layer     *int              `json:"layer"`
	Path      string            `json:"path,omitempty"`
	Files     int               `json:"files"`
	Dirs      int               `json:"dirs"`
	Links     int               `json:"links"`
	Bytes     int64             `json:"bytes"`
	Refused   []inspect.Refusal `json:"refused"`
	Error     string            `json:"error,omitempty"`
}

// ExtractJSON writes the summary of an extraction of ref into dir with
// opts: what was written, every refusal (paths absolute) and err, the
// error that stopped it, if any.
func ExtractJSON(w io.Writer, ref, dir string, opts inspect.ExtractOptions, st *inspect.ExtractStats, err error) error {
	out := Extraction{Image: ref, Directory: dir, Path: opts.Prefix, Files: st.Files, Dirs: st.Dirs,
		Links: st.Links, Bytes: st.Bytes, Refused: st.Refused}
	if opts.Layer >= 0 {
		out.Layer = &opts.Layer
	}
	if out.Refused == nil {
		out.Refused = []inspect.Refusal{}
	}
	for i := range out.Refused {
		out.Refused[i].Path = ImagePath(out.Refused[i].Path)
	}
	if err != nil {
		out.Error = err.Error()
	}
	return JSON(w, out)
}

// ExtractSummary writes, for people (on the error stream), every refusal
// of an extraction into dir and, unless quiet, what was written.
func ExtractSummary(w io.Writer, dir string, st *inspect.ExtractStats, quiet bool) {
	for _, r := range st.Refused {
		fmt.Fprintf(w, "strata: refused layer %d %s: %s\n", r.Layer, ImagePath(r.Path), r.Reason)
	}
	if !quiet {
		fmt.Fprintf(w, "strata: wrote %s (%s), %s, %s to %s; refused %s\n",
			Plural(st.Files, "file", "files"), Bytes(st.Bytes), Plural(st.Dirs, "dir", "dirs"),
			Plural(st.Links, "link", "links"), dir, Plural(len(st.Refused), "entry", "entries"))
	}
}
