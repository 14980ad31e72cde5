package browse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/scan"
	"github.com/stratascan/strata/secret"
)

// ErrNoEngine: scanning or viewing a file needs a secret engine to find
// (and mask) secrets, and none was given.
var ErrNoEngine = errors.New("no secret engine configured")

// newTasks binds the model's background work to ctx.
func newTasks(ctx context.Context, m *Model) tasks {
	walk := m.opts.Walk
	walk.Logger = m.opts.Logger
	walk.Progress = nil
	store, im, opts := m.store, m.im, m.opts
	read := m.read
	return tasks{
		load: func() tea.Msg {
			o := walk
			last := make([]int64, len(im.Layers))
			o.Progress = func(i int, n int64) {
				// n is the bytes read of layer i so far; one goroutine
				// walks a layer, so last[i] has one writer.
				read.Add(n - last[i])
				last[i] = n
			}
			a, err := inspect.Analyze(ctx, store, im, o)
			return loadedMsg{a: a, err: err}
		},
		read: func(it *item) tea.Cmd {
			return func() tea.Msg { return readFile(ctx, store, im, it, walk, opts) }
		},
		save: func(n *node, l int) tea.Cmd {
			return func() tea.Msg { return saveEntry(ctx, store, im, n, l, opts.SaveDir, walk) }
		},
		scan: func() tea.Cmd {
			return func() tea.Msg { return scanImage(ctx, store, im, opts) }
		},
		cached: func() tea.Cmd {
			if opts.Engine == nil || opts.Cache == nil {
				return nil
			}
			return func() tea.Msg { return cachedFindings(ctx, store, im, opts) }
		},
	}
}

// readFile reads a regular file from its layer for the viewer, refusing
// binary content and masking secrets unless opts.ShowSecrets.
func readFile(ctx context.Context, s content.Store, im *image.Image, it *item, walk inspect.Options, opts Options) tea.Msg {
	if opts.Engine == nil && !opts.ShowSecrets {
		return fileMsg{err: fmt.Errorf("cannot mask secrets in /%s: %w", it.e.Path, ErrNoEngine)}
	}
	walk.MaxFileBytes = opts.MaxViewBytes
	var buf bytes.Buffer
	if _, err := inspect.ReadFile(ctx, s, im, it.e.Path, it.layer, &buf, walk); err != nil {
		return fileMsg{err: err}
	}
	b := buf.Bytes()
	if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
		return fileMsg{err: fmt.Errorf("/%s is not a text file (%d bytes); save it with x", it.e.Path, len(b))}
	}
	text := string(b)
	if !opts.ShowSecrets {
		text = mask(ctx, opts.Engine, it.e.Path, text)
	}
	title := fmt.Sprintf("/%s (layer %d, %s)", it.e.Path, it.layer, stateText(it))
	return fileMsg{v: &viewer{title: title, lines: strings.Split(strings.ReplaceAll(text, "\t", "    "), "\n")}}
}

// mask replaces every secret the engine finds in text with
// "<redacted:N chars>".
func mask(ctx context.Context, e *secret.Engine, p, text string) string {
	var vals []string
	e.ScanText(ctx, "/"+p, text, func(m secret.Match) {
		if m.Secret != "" {
			vals = append(vals, m.Secret)
		}
	})
	for _, v := range vals {
		text = strings.ReplaceAll(text, v, fmt.Sprintf("<redacted:%d chars>", utf8.RuneCountInString(v)))
	}
	return text
}

// saveEntry writes the node through inspect.Extract (os.Root, nothing
// outside dir): the entry's own layer for an entry, layer l for a
// directory the view only implies.
func saveEntry(ctx context.Context, s content.Store, im *image.Image, n *node, l int, dir string, walk inspect.Options) tea.Msg {
	src := l
	if n.it != nil && !n.it.e.IsWhiteout() {
		src = n.it.layer
	}
	if n.it != nil && n.it.e.IsWhiteout() {
		return savedMsg{err: fmt.Errorf("/%s is a whiteout marker in layer %d: it has no content; select the deleted file in the tree view", n.path, l)}
	}
	st, err := inspect.Extract(ctx, s, im, dir, inspect.ExtractOptions{Layer: src, Prefix: n.path}, walk)
	if err != nil {
		return savedMsg{err: err}
	}
	if st.Files+st.Dirs+st.Links == 0 {
		return savedMsg{err: fmt.Errorf("nothing written for /%s from layer %d (%d refused)", n.path, src, len(st.Refused))}
	}
	return savedMsg{path: filepath.Join(dir, filepath.FromSlash(n.path)), files: st.Files}
}

// scanImage scans the image's layers for secrets.
func scanImage(ctx context.Context, s content.Store, im *image.Image, opts Options) tea.Msg {
	if opts.Engine == nil {
		return scannedMsg{err: ErrNoEngine}
	}
	res, err := scan.Run(ctx, []scan.Target{{Ref: opts.Ref, Store: s, Images: []*image.Image{im}}},
		scan.Options{Engine: opts.Engine, Results: opts.Cache.Results(), Logger: opts.Logger})
	if err != nil {
		return scannedMsg{err: err}
	}
	return scannedMsg{findings: res.Findings}
}

// cachedFindings scans the image when the scan cache holds the results of
// every one of its layers (the scan then reads no layer, only the config
// and attestations) and marks the findings as from the cache; otherwise,
// or on any error, it returns nil and the scan stays on demand.
func cachedFindings(ctx context.Context, s content.Store, im *image.Image, opts Options) tea.Msg {
	rs := opts.Cache.Results()
	keys := scan.NewPlan([]scan.Target{{Ref: opts.Ref, Store: s, Images: []*image.Image{im}}}).Keys()
	got, err := rs.LayerResults(ctx, keys, opts.Engine.RulesetHash())
	if err != nil || len(got) < len(keys) {
		return nil
	}
	msg, ok := scanImage(ctx, s, im, opts).(scannedMsg)
	if !ok || msg.err != nil {
		return nil
	}
	msg.fromCache = true
	return msg
}

// stateText says an item's state in the final image.
func stateText(it *item) string {
	switch {
	case it.e.Type == layer.TypeWhiteout:
		return "whiteout: deletes it"
	case it.e.Type == layer.TypeOpaque:
		return "opaque: hides lower entries"
	case it.recoverable():
		return fmt.Sprintf("deleted by L%d, recoverable", it.st.HiddenBy)
	case it.st.HiddenBy >= 0:
		return fmt.Sprintf("%s by L%d", it.st.State, it.st.HiddenBy)
	}
	return string(it.st.State)
}
