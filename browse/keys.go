package browse

import (
	tea "github.com/charmbracelet/bubbletea"

	"github.com/stratascan/strata/layer"
)

// key handles a key press.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.filtering {
		return m.filterKey(k)
	}
	if m.view != nil {
		m.viewKey(k)
		return nil
	}
	if m.fpane != nil {
		m.findingsKey(k)
		return nil
	}
	switch k.String() {
	case "q":
		return tea.Quit
	case "esc":
		m.status = ""
		if m.filter.Value() != "" {
			m.filter.SetValue("")
			m.rebuild()
		}
		return nil
	}
	if m.a == nil {
		return nil
	}
	return m.paneKey(k)
}

// paneKey handles a key of the layer and filesystem panes.
func (m *Model) paneKey(k tea.KeyMsg) tea.Cmd {
	switch k.String() {
	case "tab", "shift+tab":
		m.focus = 1 - m.focus
	case "up", "k":
		return m.move(-1)
	case "down", "j":
		return m.move(1)
	case "pgup":
		return m.move(-m.filesHeight())
	case "pgdown":
		return m.move(m.filesHeight())
	case "home", "g":
		return m.move(-1 << 30)
	case "end", "G":
		return m.move(1 << 30)
	case "o":
		m.own = !m.own
		m.rebuild()
	case "z":
		m.bySize = !m.bySize
		m.rebuild()
	case "/":
		m.filtering = true
		m.filter.Focus()
	case "f":
		if m.scanned {
			m.fpane = &findingsPane{list: m.list}
			return nil
		}
		fallthrough
	case "s":
		if !m.scanning {
			m.scanning = true
			m.status = "scanning..."
			return m.tasks.scan()
		}
	default:
		return m.fileKey(k)
	}
	return nil
}

// fileKey handles the keys that act on the selected filesystem entry.
func (m *Model) fileKey(k tea.KeyMsg) tea.Cmd {
	if m.cursor >= len(m.rows) {
		return nil
	}
	n := m.rows[m.cursor]
	switch k.String() {
	case "enter", " ", "left", "right", "h", "l":
		if len(n.kids) > 0 {
			m.toggle(n, k.String())
			return nil
		}
		if k.String() == "enter" && n.it != nil && (n.it.e.Type == layer.TypeFile || n.it.e.Type == layer.TypeHardlink) {
			m.status = "reading /" + n.path + "..."
			return m.tasks.read(n.it)
		}
	case "x":
		m.status = "saving /" + n.path + "..."
		return m.tasks.save(n, m.layer)
	}
	return nil
}

// toggle collapses or expands directory n.
func (m *Model) toggle(n *node, key string) {
	switch key {
	case "left", "h":
		m.collapsed[n.path] = true
	case "right", "l":
		delete(m.collapsed, n.path)
	default:
		m.collapsed[n.path] = !m.collapsed[n.path]
	}
	m.rows = flatten(m.root, m.collapsed)
	m.clamp()
}

// move moves the focused pane's cursor by d rows. In the layers pane a new
// layer's tree is built in the background, so holding a key stays
// responsive on images with many files; the pane says it is building.
func (m *Model) move(d int) tea.Cmd {
	if m.focus != paneLayers {
		m.cursor += d
		m.clamp()
		return nil
	}
	l := clampInt(m.layer+d, 0, len(m.a.Layers)-1)
	if l == m.layer {
		return nil
	}
	m.layer = l
	m.gen++
	m.building = true
	m.clamp()
	gen, items, own, filter, bySize := m.gen, m.items, m.own, m.filter.Value(), m.bySize
	return func() tea.Msg { return treeMsg{gen: gen, root: buildTree(viewItems(items, l, own), filter, bySize)} }
}

// filterKey edits the filter box; enter keeps the filter, esc clears it.
func (m *Model) filterKey(k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyEnter:
		m.filtering = false
		m.filter.Blur()
		return nil
	case tea.KeyEsc:
		m.filtering = false
		m.filter.Blur()
		m.filter.SetValue("")
		m.rebuild()
		return nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(k)
	m.cursor, m.top = 0, 0
	m.rebuild()
	return cmd
}

// viewKey scrolls or closes the file viewer.
func (m *Model) viewKey(k tea.KeyMsg) {
	h := m.height - 3
	switch k.String() {
	case "esc", "q", "enter":
		m.view = nil
		m.status = ""
		return
	case "up", "k":
		m.view.top--
	case "down", "j":
		m.view.top++
	case "pgup":
		m.view.top -= h
	case "pgdown", " ":
		m.view.top += h
	case "home", "g":
		m.view.top = 0
	case "end", "G":
		m.view.top = len(m.view.lines)
	}
	m.view.top = clampInt(m.view.top, 0, max(0, len(m.view.lines)-h))
}

// clamp keeps both cursors on a row and visible.
func (m *Model) clamp() {
	if m.a == nil {
		return
	}
	lh := m.layersHeight()
	m.layerTop = clampInt(m.layerTop, max(0, m.layer-lh+1), m.layer)
	m.cursor = clampInt(m.cursor, 0, max(0, len(m.rows)-1))
	fh := m.filesHeight()
	m.top = clampInt(m.top, max(0, m.cursor-fh+1), m.cursor)
}

func clampInt(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// mouse turns the wheel into up and down keys of the pane or viewer.
func (m *Model) mouse(msg tea.MouseMsg) tea.Cmd {
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		return m.key(tea.KeyMsg{Type: tea.KeyUp})
	case tea.MouseButtonWheelDown:
		return m.key(tea.KeyMsg{Type: tea.KeyDown})
	}
	return nil
}
