package browse

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
)

// findingsPane lists the image's findings; enter jumps to one.
type findingsPane struct {
	list   []scan.Finding
	cursor int
	top    int
}

const footerFindings = "↑↓ move  ⏎ jump to layer and path  esc close"

// findingsKey handles a key of the findings pane.
func (m *Model) findingsKey(k tea.KeyMsg) {
	fp := m.fpane
	switch k.String() {
	case "esc", "f", "q":
		m.fpane = nil
		return
	case "up", "k":
		fp.cursor--
	case "down", "j":
		fp.cursor++
	case "enter":
		if fp.cursor < len(fp.list) {
			m.jump(fp.list[fp.cursor])
		}
		m.fpane = nil
		return
	}
	h := m.height - 3
	fp.cursor = clampInt(fp.cursor, 0, max(0, len(fp.list)-1))
	fp.top = clampInt(fp.top, max(0, fp.cursor-h+1), fp.cursor)
}

// jump selects the finding's layer (the last one for config findings) in
// the tree view and its path in the filesystem pane.
func (m *Model) jump(f scan.Finding) {
	m.layer, m.own, m.focus = len(m.a.Layers)-1, false, paneFiles
	if f.Layer == nil {
		m.status = "config finding: " + f.Path
		m.rebuild()
		return
	}
	m.layer = *f.Layer
	m.filter.SetValue("")
	p := strings.TrimPrefix(f.Path, "/")
	if i := strings.Index(p, "!"); i >= 0 { // an archive member: its archive
		p = p[:i]
	}
	for d := parentOf(p); d != ""; d = parentOf(d) {
		delete(m.collapsed, d)
	}
	m.rebuild()
	for i, n := range m.rows {
		if n.path == p {
			m.cursor = i
			break
		}
	}
	m.clamp()
}

// findingsView renders the findings pane.
func (m *Model) findingsView() []string {
	fp := m.fpane
	title := fmt.Sprintf("Findings (%d)", len(fp.list))
	if m.cached {
		title = fmt.Sprintf("Findings (%d, from cache)", len(fp.list))
	}
	out := []string{m.st.title.Render(m.fit(title))}
	if len(fp.list) == 0 {
		return append(out, "  none")
	}
	for i := fp.top; i < len(fp.list) && i < fp.top+m.height-2; i++ {
		f := fp.list[i]
		l := "cfg"
		if f.Layer != nil {
			l = fmt.Sprintf("L%d", *f.Layer)
		}
		mark := "   "
		if i == fp.cursor {
			mark = " › "
		}
		row := m.fit(fmt.Sprintf("%s%-4s %-8s %-9s %s:%d  %s  %s", mark, l, f.Severity, f.State, report.FindingPath(f), f.Line, f.Rule, oneLine(f.Redacted)))
		if i == fp.cursor {
			row = m.st.sel.Render(row)
		}
		out = append(out, row)
	}
	return out
}
