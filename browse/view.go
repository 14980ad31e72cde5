package browse

import (
	"fmt"
	"strings"

	"github.com/mattn/go-runewidth"

	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/report"
)

// stateWidth is the width of the filesystem pane's state column.
const stateWidth = 30

// viewer is an open text file.
type viewer struct {
	title string
	lines []string
	top   int
}

// footer lists the keys; it fits 80 columns.
const (
	footerPanes  = "tab pane ↑↓ ⏎ view ←→ fold / filter o own z size f findings x save q quit"
	footerViewer = "↑↓ pgup pgdn scroll  esc close  q close"
	footerFilter = "type a glob (*.env, /app/*)  ⏎ keep  esc clear"
)

// layersHeight is the number of layer rows shown.
func (m *Model) layersHeight() int {
	n := 1
	if m.a != nil {
		n = len(m.a.Layers)
	}
	return max(1, min(n, (m.height-6)/3))
}

// filesHeight is the number of filesystem rows shown.
func (m *Model) filesHeight() int {
	return max(1, m.height-5-m.layersHeight())
}

// View renders the screen: exactly height lines, none wider than width.
func (m *Model) View() string {
	var lines []string
	switch {
	case m.err != nil:
		lines = []string{m.header(), "", m.st.warn.Render(m.fit("error: " + m.err.Error()))}
	case m.loading:
		lines = m.loadingView()
	case m.view != nil:
		lines = m.viewerView()
	case m.fpane != nil:
		lines = m.findingsView()
	default:
		lines = m.panesView()
	}
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	lines = lines[:max(0, m.height-1)]
	foot := footerPanes
	switch {
	case m.filtering:
		foot = footerFilter
	case m.view != nil:
		foot = footerViewer
	case m.fpane != nil:
		foot = footerFindings
	}
	lines = append(lines, m.st.dim.Render(m.fit(foot)))
	return strings.Join(lines, "\n")
}

// fit truncates s to the screen width.
func (m *Model) fit(s string) string { return runewidth.Truncate(s, m.width, "…") }

func (m *Model) header() string {
	h := "strata browse " + m.opts.Ref
	if m.a != nil {
		h += fmt.Sprintf("  %s, %s wasted", report.Plural(len(m.a.Layers), "layer", "layers"), report.Bytes(m.a.Wasted()))
	}
	return m.st.title.Render(m.fit(h))
}

func (m *Model) loadingView() []string {
	read := m.read.Load()
	pct := 0.0
	if m.total > 0 {
		pct = min(1, float64(read)/float64(m.total))
	}
	m.bar.Width = max(10, min(60, m.width-30))
	return []string{m.header(), "",
		m.fit(fmt.Sprintf("walking %d layers  %s", len(m.im.Layers), m.bar.ViewAs(pct))),
		m.fit(fmt.Sprintf("%s of %s compressed", report.Bytes(read), report.Bytes(m.total)))}
}

func (m *Model) viewerView() []string {
	out := []string{m.st.title.Render(m.fit(m.view.title))}
	h := m.height - 2
	for i := m.view.top; i < len(m.view.lines) && i < m.view.top+h; i++ {
		out = append(out, strings.TrimRight(m.fit(fmt.Sprintf("%4d %s", i+1, m.view.lines[i])), " "))
	}
	return out
}

func (m *Model) panesView() []string {
	scanned := "s: scan"
	switch {
	case m.scanning:
		scanned = "scanning..."
	case m.scanned:
		scanned = "* = findings"
	}
	out := []string{m.header(), m.title(paneLayers, fmt.Sprintf("Layers  %3s  %-9s %5s %4s %4s %9s  step   (%s)", "#", "size", "+add", "~mod", "-del", "wasted", scanned))}
	for i := m.layerTop; i < len(m.a.Layers) && i < m.layerTop+m.layersHeight(); i++ {
		out = append(out, m.layerRow(i))
	}
	out = append(out, m.title(paneFiles, m.filesTitle()))
	fh := m.filesHeight()
	for i := m.top; i < len(m.rows) && i < m.top+fh; i++ {
		out = append(out, m.fileRow(i))
	}
	if len(m.rows) == 0 {
		out = append(out, m.st.dim.Render("  (no entries)"))
	}
	for len(out) < 3+m.layersHeight()+fh {
		out = append(out, "")
	}
	return append(out, m.st.warn.Render(m.fit(m.status)))
}

// title renders a pane's title line, marked when it has the focus.
func (m *Model) title(p pane, s string) string {
	mark := "  "
	if m.focus == p {
		mark = "▶ "
	}
	return m.st.title.Render(m.fit(mark + s))
}

func (m *Model) filesTitle() string {
	mode := fmt.Sprintf("Files as of layer %d", m.layer)
	if m.own {
		mode = fmt.Sprintf("Changes of layer %d", m.layer)
	}
	if m.bySize {
		mode += ", by size"
	}
	if m.building {
		mode += " (building...)"
	}
	if m.filtering || m.filter.Value() != "" {
		mode += "  " + m.filter.View()
	}
	return mode
}

func (m *Model) layerRow(i int) string {
	l := m.a.Layers[i]
	mark := " "
	if m.findings[i] > 0 {
		mark = "*"
	}
	s := l.Stats
	row := fmt.Sprintf("%s%3d %s %9s %5s %4s %4s %9s  %s", m.cursorMark(paneLayers, i == m.layer), i, mark,
		report.Bytes(l.Size), fmt.Sprint("+", s.Added), fmt.Sprint("~", s.Modified), fmt.Sprint("-", s.Deleted), report.Bytes(s.Wasted), oneLine(m.steps[i]))
	row = m.fit(row)
	if i == m.layer {
		return m.st.sel.Render(row)
	}
	return row
}

func (m *Model) cursorMark(p pane, on bool) string {
	switch {
	case !on:
		return "   "
	case m.focus == p:
		return " › "
	}
	return " · "
}

func (m *Model) fileRow(i int) string {
	n := m.rows[i]
	name := strings.Repeat("  ", n.depth)
	switch {
	case len(n.kids) > 0 && m.collapsed[n.path]:
		name += "▸ " + n.name + "/"
	case len(n.kids) > 0:
		name += "▾ " + n.name + "/"
	case n.isDir():
		name += "  " + n.name + "/"
	default:
		name += "  " + n.name
	}
	if n.it != nil && n.it.e.Type == layer.TypeSymlink {
		name += " -> " + n.it.e.Linkname
	}
	state, from := "", ""
	if n.it != nil {
		state = stateText(n.it)
		if n.it.layer != m.layer {
			from = fmt.Sprintf("L%d ", n.it.layer)
		}
		if n.it.st.State == "present" && !n.it.e.IsWhiteout() {
			state = ""
		}
	}
	right := fmt.Sprintf(" %9s  %-*s", report.Bytes(n.size), min(stateWidth, m.width*2/5), from+state)
	w := max(10, m.width-3-runewidth.StringWidth(right))
	row := m.cursorMark(paneFiles, i == m.cursor) + runewidth.FillRight(runewidth.Truncate(name, w, "…"), w) + right
	row = strings.TrimRight(m.fit(row), " ")
	switch {
	case i == m.cursor:
		return m.st.sel.Render(row)
	case n.it != nil && n.it.recoverable():
		return m.st.warn.Render(row)
	case n.it != nil && n.it.st.HiddenBy >= 0:
		return m.st.dim.Render(row)
	}
	return row
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
