package browse

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
)

// Options configure the browser.
type Options struct {
	// Ref names the image in the header.
	Ref string
	// Engine finds secrets: on demand for the findings markers and in the
	// file viewer, to mask them. Nil: no scanning, and the viewer shows
	// nothing of a file rather than unmasked secrets.
	Engine *secret.Engine
	// Cache, when set, answers and stores the on-demand scan per layer.
	// When it already holds every layer's results, the findings are loaded
	// from it on open, without a key press.
	Cache *scan.Cache
	// ShowSecrets shows secret values in the viewer unmasked.
	ShowSecrets bool
	// SaveDir is the directory the save key extracts into ("." if empty).
	SaveDir string
	// Color enables colour; false renders plain text (NO_COLOR).
	Color bool
	// MaxViewBytes caps the bytes of a file the viewer reads (default 1 MiB).
	MaxViewBytes int64
	// Walk tunes the layer walks (concurrency, byte caps); its Progress is
	// replaced by the model's own.
	Walk   inspect.Options
	Logger *slog.Logger
}

// pane is what has the keyboard focus.
type pane int

const (
	paneLayers pane = iota
	paneFiles
)

// Model is the browser's Bubble Tea model.
type Model struct {
	store content.Store
	im    *image.Image
	opts  Options
	st    styles
	tasks tasks

	width, height int

	// loading
	read    *atomic.Int64
	total   int64
	bar     progress.Model
	loading bool
	err     error

	a        *inspect.Analysis
	items    [][]item // every layer's entries with their states
	steps    []string // masked build step per layer
	findings map[int]int
	scanning bool
	scanned  bool
	cached   bool // the findings came from the scan cache on open

	focus     pane
	layer     int
	layerTop  int
	own       bool
	bySize    bool
	collapsed map[string]bool
	filter    textinput.Model
	filtering bool
	root      *node
	gen       int  // bumped by every tree build; stale background builds are dropped
	building  bool // a background build for the selected layer is running
	rows      []*node
	cursor    int
	top       int

	view   *viewer
	fpane  *findingsPane
	status string
	list   []scan.Finding
}

// tasks are the model's background work, bound to the context given to
// New when they are made.
type tasks struct {
	load func() tea.Msg
	read func(it *item) tea.Cmd
	save func(n *node, l int) tea.Cmd
	scan func() tea.Cmd
	// cached loads the findings from the scan cache when it holds every
	// layer's results; its message is nil otherwise.
	cached func() tea.Cmd
}

// Messages of background work.
type (
	tickMsg   struct{}
	loadedMsg struct {
		a   *inspect.Analysis
		err error
	}
	fileMsg struct {
		v   *viewer
		err error
	}
	savedMsg struct {
		path  string
		files int
		err   error
	}
	treeMsg struct {
		gen  int
		root *node
	}
	scannedMsg struct {
		findings  []scan.Finding
		err       error
		fromCache bool
	}
)

// New returns the browser of im. ctx bounds every background task (walk,
// file reads, saves, scans).
func New(ctx context.Context, s content.Store, im *image.Image, opts Options) *Model {
	if opts.SaveDir == "" {
		opts.SaveDir = "."
	}
	if opts.MaxViewBytes <= 0 {
		opts.MaxViewBytes = 1 << 20
	}
	m := &Model{store: s, im: im, opts: opts, read: new(atomic.Int64), loading: true,
		collapsed: map[string]bool{}, width: 80, height: 24, findings: map[int]int{}}
	for _, l := range im.Layers {
		if l.Descriptor.Size > 0 {
			m.total += l.Descriptor.Size
		}
	}
	m.st = newStyles(opts.Color)
	m.bar = progress.New(progress.WithoutPercentage(), progress.WithWidth(40))
	if !opts.Color {
		m.bar = progress.New(progress.WithoutPercentage(), progress.WithWidth(40), progress.WithColorProfile(termenv.Ascii), progress.WithFillCharacters('#', '.'))
	}
	m.filter = textinput.New()
	m.filter.Prompt = "/"
	m.filter.Placeholder = "glob, e.g. *.env or /app/*"
	m.tasks = newTasks(ctx, m)
	return m
}

// Init starts the layer walk and the progress ticks, and compiles the
// secret rules meanwhile so the first file view or scan does not wait.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.tasks.load, tick()}
	if e := m.opts.Engine; e != nil {
		cmds = append(cmds, func() tea.Msg { _ = e.Compile(); return nil })
	}
	return tea.Batch(cmds...)
}

// Screen walks im and returns the browser's first screen at width x
// height: the output for a stream that is not a terminal.
func Screen(ctx context.Context, s content.Store, im *image.Image, opts Options, width, height int) (string, error) {
	m := New(ctx, s, im, opts)
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	m.Update(m.tasks.load())
	if m.err != nil {
		return "", m.err
	}
	return m.View(), nil
}

func tick() tea.Cmd {
	return tea.Tick(100*time.Millisecond, func(time.Time) tea.Msg { return tickMsg{} })
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
	case tickMsg:
		if m.loading {
			return m, tick()
		}
	case loadedMsg:
		m.loaded(msg)
		if m.err == nil && !m.scanned && !m.scanning {
			return m, m.tasks.cached()
		}
	case fileMsg:
		if msg.err != nil {
			m.status = "view: " + msg.err.Error()
		} else {
			m.view = msg.v
		}
	case savedMsg:
		m.status = savedStatus(msg)
	case scannedMsg:
		m.scannedFindings(msg)
	case treeMsg:
		if msg.gen == m.gen {
			m.building = false
			m.root = msg.root
			m.rows = flatten(m.root, m.collapsed)
			m.clamp()
		}
	case tea.KeyMsg:
		return m, m.key(msg)
	case tea.MouseMsg:
		return m, m.mouse(msg)
	}
	return m, nil
}

func savedStatus(msg savedMsg) string {
	if msg.err != nil {
		return "save: " + msg.err.Error()
	}
	return "saved " + msg.path
}

func (m *Model) loaded(msg loadedMsg) {
	m.loading = false
	if msg.err != nil {
		m.err = msg.err
		return
	}
	m.a = msg.a
	m.items = layerItems(m.a)
	m.steps = make([]string, len(m.a.Layers))
	for i, l := range m.a.Layers {
		m.steps[i] = inspect.Step(l.CreatedBy, false)
	}
	m.layer = len(m.a.Layers) - 1
	m.rebuild()
}

func (m *Model) scannedFindings(msg scannedMsg) {
	m.scanning = false
	if msg.err != nil {
		m.status = "scan: " + msg.err.Error()
		return
	}
	m.scanned = true
	m.list = msg.findings
	m.cached = msg.fromCache
	if msg.fromCache {
		// Loaded on open: the markers and the list are ready, the
		// layers stay on screen (f opens the list).
		m.status = report.Plural(len(msg.findings), "finding", "findings") + " from cache (layers marked *; f lists them)"
		m.markFindings(msg.findings)
		return
	}
	m.fpane = &findingsPane{list: msg.findings}
	m.markFindings(msg.findings)
	m.status = report.Plural(len(msg.findings), "finding", "findings") + " (layers marked *)"
}

// markFindings counts the findings of every layer for its marker.
func (m *Model) markFindings(fs []scan.Finding) {
	m.findings = map[int]int{}
	for _, f := range fs {
		if f.Layer != nil {
			m.findings[*f.Layer]++
		}
	}
}

// rebuild recomputes the filesystem pane after the layer, mode, filter or
// sort changed.
func (m *Model) rebuild() {
	if m.a == nil {
		return
	}
	m.gen++
	m.building = false
	m.root = buildTree(viewItems(m.items, m.layer, m.own), m.filter.Value(), m.bySize)
	m.rows = flatten(m.root, m.collapsed)
	m.clamp()
}

// Selected returns the path of the filesystem pane's selected row ("" when
// none) and the layer its entry comes from.
func (m *Model) Selected() (string, int) {
	if m.cursor >= len(m.rows) {
		return "", -1
	}
	n := m.rows[m.cursor]
	if n.it == nil {
		return "/" + n.path, m.layer
	}
	return "/" + n.path, n.it.layer
}

// Loaded reports whether the layer walk has finished, and its error.
func (m *Model) Loaded() (bool, error) { return !m.loading, m.err }

// Status is the last status line (a save's destination, an error).
func (m *Model) Status() string { return m.status }

func newStyles(color bool) styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	}
	return styles{
		title:  r.NewStyle().Bold(true),
		sel:    r.NewStyle().Reverse(color),
		dim:    r.NewStyle().Foreground(lipgloss.Color("245")),
		warn:   r.NewStyle().Foreground(lipgloss.Color("203")),
		ok:     r.NewStyle().Foreground(lipgloss.Color("114")),
		border: r.NewStyle().Foreground(lipgloss.Color("240")),
	}
}

type styles struct {
	title, sel, dim, warn, ok, border lipgloss.Style
}
