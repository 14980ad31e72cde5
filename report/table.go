package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// Formats every command understands.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// ErrFormat is returned by CheckFormat for an output format a command does
// not produce.
var ErrFormat = fmt.Errorf("unknown output format")

// CheckFormat validates an output format against those a command supports.
// Every command checks its format through this one function, so every
// command answers a bad value the same way.
func CheckFormat(f string, allowed ...string) error {
	for _, a := range allowed {
		if f == a {
			return nil
		}
	}
	return fmt.Errorf("%w %q: use one of %s", ErrFormat, f, strings.Join(allowed, ", "))
}

// JSON writes v as indented JSON with a trailing newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(Unwrap(w))
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Styled is an output stream with the terminal's traits: the width tables
// must fit (0: no limit, as when piped) and whether to colour states and
// severities. Wrap a stream once (see StyleFor) and pass it to the
// renderers of this package; other writers get plain, untruncated text.
type Styled struct {
	io.Writer
	Width int
	Color bool
}

// StyleFor returns w wrapped with the traits of the terminal it is, if it
// is one: its width (or $COLUMNS) and colour unless $NO_COLOR is set
// (https://no-color.org). A pipe or file gets neither, so scripts see full
// values and no escape codes.
func StyleFor(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return w
	}
	s := &Styled{Writer: w, Color: os.Getenv("NO_COLOR") == ""}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		s.Width = n
	} else if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
		s.Width = n
	}
	return s
}

// Unwrap returns the stream under a Styled writer.
func Unwrap(w io.Writer) io.Writer {
	if s, ok := w.(*Styled); ok {
		return s.Writer
	}
	return w
}

func styleOf(w io.Writer) (width int, color bool) {
	if s, ok := w.(*Styled); ok {
		return s.Width, s.Color
	}
	return 0, false
}

// minColumn is the narrowest a column is truncated to.
const minColumn = 8

// Table writes rows under headers (nil: no header line), columns aligned by
// their display width. On a Styled terminal the widest columns are
// truncated with an ellipsis until a row fits the width, and states and
// severities are coloured; elsewhere values are written in full.
func Table(w io.Writer, headers []string, rows [][]string) error {
	return IndentedTable(w, "", headers, rows)
}

// IndentedTable is Table with every line prefixed by indent.
func IndentedTable(w io.Writer, indent string, headers []string, rows [][]string) error {
	width, color := styleOf(w)
	all := rows
	if len(headers) > 0 {
		all = append([][]string{headers}, rows...)
	}
	widths := columnWidths(all)
	if width > 0 {
		fit(widths, width-runewidth.StringWidth(indent))
	}
	var b strings.Builder
	for ri, r := range all {
		b.WriteString(indent)
		for i, cell := range r {
			cell = clip(cell, widths[i])
			last := i == len(r)-1
			pad := widths[i] - runewidth.StringWidth(cell)
			if color && (ri > 0 || len(headers) == 0) {
				cell = Colorize(cell)
			}
			b.WriteString(cell)
			if !last {
				b.WriteString(strings.Repeat(" ", pad+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(Unwrap(w), b.String())
	return err
}

func columnWidths(rows [][]string) []int {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			if n := runewidth.StringWidth(c); n > widths[i] {
				widths[i] = n
			}
		}
	}
	return widths
}

// fit narrows the widest columns until the row (with two spaces between
// columns) fits width, never below minColumn.
func fit(widths []int, width int) {
	total := func() int {
		t := 2 * (len(widths) - 1)
		for _, n := range widths {
			t += n
		}
		return t
	}
	for excess := total() - width; excess > 0; excess = total() - width {
		wi := 0
		for i, n := range widths {
			if n > widths[wi] {
				wi = i
			}
		}
		second := minColumn
		for i, n := range widths {
			if i != wi && n > second {
				second = n
			}
		}
		if widths[wi] <= minColumn {
			return
		}
		cut := min(excess, widths[wi]-second)
		if cut <= 0 {
			cut = 1
		}
		widths[wi] = max(widths[wi]-cut, minColumn)
	}
}

// clip shortens s to at most n display columns, ending in an ellipsis.
func clip(s string, n int) string {
	if runewidth.StringWidth(s) <= n {
		return s
	}
	return runewidth.Truncate(s, n, "…")
}

// ANSI colours for states and severities.
const (
	red    = "\x1b[31m"
	boldRd = "\x1b[1;31m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	green  = "\x1b[32m"
	reset  = "\x1b[0m"
)

var keywordColor = map[string]string{
	"critical": boldRd, "high": red, "medium": yellow, "low": cyan,
	"deleted": red, "overwritten": yellow, "unsafe": boldRd,
	"active": boldRd, "ok": green, "stale": yellow, "no-base": red, "error": boldRd, "refused": boldRd,
}

// Colorize colours a cell by its first word when that word names a
// severity or a state (CRITICAL, deleted, overwritten, stale, ...).
func Colorize(cell string) string {
	word, _, _ := strings.Cut(cell, " ")
	if c, ok := keywordColor[strings.ToLower(word)]; ok {
		return c + cell + reset
	}
	return cell
}

// Plural returns "1 image", "2 images": n with the singular or plural noun.
func Plural(n int, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return strconv.Itoa(n) + " " + plural
}

// Bytes formats n bytes for people: 512 B, 1.5 KiB, 3.2 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < 0 {
		return "unknown" // a size the source does not record (schema 1 layers)
	}
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Truncate shortens s to at most n runes with an ellipsis.
func Truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ImagePath writes a path inside an image the one way strata prints them:
// absolute, with a leading slash ("app/.env" -> "/app/.env").
func ImagePath(p string) string {
	return "/" + strings.TrimLeft(p, "/")
}
