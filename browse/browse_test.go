package browse

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/stratascan/strata/content"
	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/secret"
	"github.com/stratascan/strata/source"
)

var update = flag.Bool("update", false, "rewrite the golden screens")

const sample = "oci:../examples/leaky-app:latest"

// openSample opens the shipped sample image the way the CLI does.
func openSample(t testing.TB) (content.Store, *image.Image) { return openRef(t, sample) }

// openRef opens, loads and selects the one image of ref.
func openRef(t testing.TB, ref string) (content.Store, *image.Image) {
	t.Helper()
	ctx := context.Background()
	s, err := source.Open(ctx, ref, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	root, err := source.Load(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := source.Select(root, nil, false)
	if err != nil || len(ims) != 1 {
		t.Fatalf("select: %v (%d images)", err, len(ims))
	}
	return s, ims[0]
}

// driver runs a model synchronously: every command a message returns is
// run and its message fed back, except progress ticks.
type driver struct {
	t testing.TB
	m *Model
}

func newDriver(t testing.TB, s content.Store, im *image.Image, opts Options, w, h int) *driver {
	d := &driver{t: t, m: New(context.Background(), s, im, opts)}
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.run(d.m.tasks.load)
	if ok, err := d.m.Loaded(); !ok || err != nil {
		t.Fatalf("load: done %v, %v", ok, err)
	}
	return d
}

func (d *driver) send(msg tea.Msg) {
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil, tickMsg, tea.QuitMsg:
	case tea.BatchMsg:
		for _, c := range msg {
			d.run(c)
		}
	default:
		d.send(msg)
	}
}

// keys sends key presses: names of special keys ("enter", "down") or
// runes.
func (d *driver) keys(keys ...string) {
	special := map[string]tea.KeyType{"enter": tea.KeyEnter, "down": tea.KeyDown, "up": tea.KeyUp, "tab": tea.KeyTab,
		"esc": tea.KeyEsc, "left": tea.KeyLeft, "right": tea.KeyRight, "pgdown": tea.KeyPgDown, "end": tea.KeyEnd}
	for _, k := range keys {
		if k == "wheel-up" {
			d.send(tea.MouseMsg{Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress})
			continue
		}
		if kt, ok := special[k]; ok {
			d.send(tea.KeyMsg{Type: kt})
			continue
		}
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
	}
}

// golden compares the screen with testdata/name.golden.
func (d *driver) golden(name string) {
	d.t.Helper()
	got := d.m.View()
	for i, line := range strings.Split(got, "\n") {
		if w := len([]rune(line)); w > d.m.width {
			d.t.Errorf("%s: line %d is %d columns wide, more than %d: %q", name, i, w, d.m.width, line)
		}
	}
	if n := strings.Count(got, "\n") + 1; n != d.m.height {
		d.t.Errorf("%s: %d lines, want %d", name, n, d.m.height)
	}
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			d.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		d.t.Fatalf("%v (run go test ./browse -update)", err)
	}
	if got != string(want) {
		d.t.Errorf("%s: screen differs from %s:\n--- got\n%s\n--- want\n%s", name, p, got, want)
	}
}

// selectPath moves the filesystem cursor to the row of p.
func (d *driver) selectPath(p string) *node {
	d.t.Helper()
	for i, n := range d.m.rows {
		if "/"+n.path == p {
			d.m.cursor = i
			d.m.clamp()
			return n
		}
	}
	d.t.Fatalf("%s not in the filesystem pane of layer %d", p, d.m.layer)
	return nil
}

func engine(t testing.TB) *secret.Engine {
	e, err := secret.New(secret.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRecoverDeletedEnv opens the sample, selects the layer that deletes
// /app/.env, finds the file marked deleted-but-recoverable, saves it and
// checks the bytes are those strata cat reads.
func TestRecoverDeletedEnv(t *testing.T) {
	s, im := openSample(t)
	dir := t.TempDir()
	d := newDriver(t, s, im, Options{Ref: "oci:examples/leaky-app:latest", SaveDir: dir, Engine: engine(t)}, 80, 24)
	d.golden("start-80x24")
	d.keys("up") // layers pane has the focus: layer 3 -> 2
	if d.m.layer != 2 || d.m.a.Layers[2].Stats.Deleted != 1 {
		t.Fatalf("layer %d selected, deleting %d entries; want layer 2 deleting /app/.env", d.m.layer, d.m.a.Layers[2].Stats.Deleted)
	}
	d.keys("tab")
	n := d.selectPath("/app/.env")
	if !n.it.recoverable() || n.it.layer != 1 || n.it.st.HiddenBy != 2 {
		t.Fatalf("/app/.env: layer %d, state %+v; want deleted by layer 2, recoverable from layer 1", n.it.layer, n.it.st)
	}
	d.golden("layer2-env-80x24")
	d.keys("x")
	if st := d.m.Status(); !strings.HasPrefix(st, "saved ") {
		t.Fatalf("status after x: %q", st)
	}
	got, err := os.ReadFile(filepath.Join(dir, "app", ".env"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := inspect.ReadFile(context.Background(), s, im, "/app/.env", -1, &want, inspect.Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) || len(got) == 0 {
		t.Errorf("saved %q, strata cat reads %q", got, want.Bytes())
	}
}

// TestSaveDirectoryAndColour saves a directory of one layer's changes and
// checks colour escapes appear only with Color.
func TestSaveDirectoryAndColour(t *testing.T) {
	s, im := openSample(t)
	dir := t.TempDir()
	d := newDriver(t, s, im, Options{SaveDir: dir}, 80, 24)
	if strings.Contains(d.m.View(), "\x1b[") {
		t.Error("escape codes without Color")
	}
	d.keys("up", "up", "o", "tab") // layer 1's own changes: COPY . /app
	d.selectPath("/app")
	d.keys("x")
	for _, f := range []string{"app/main.py", "app/.env", "app/.ssh/id_ed25519"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("saving /app of layer 1: %v (status %q)", err, d.m.Status())
		}
	}
	c := newDriver(t, s, im, Options{Color: true}, 80, 24)
	if !strings.Contains(c.m.View(), "\x1b[") {
		t.Error("no escape codes with Color")
	}
}

// TestProgram runs the model in a real Bubble Tea program (its goroutines,
// the background walk and ticks), moves to /app/.env's layer, saves it and
// quits.
func TestProgram(t *testing.T) {
	s, im := openSample(t)
	dir := t.TempDir()
	m := New(context.Background(), s, im, Options{SaveDir: dir})
	var out bytes.Buffer
	p := tea.NewProgram(m, tea.WithInput(nil), tea.WithOutput(&out), tea.WithoutSignalHandler())
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	p.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "app", ".env")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			p.Kill()
			t.Fatalf("/app/.env not saved within 10s; screen:\n%s", out.String())
		}
		// keys are ignored until the walk is done; resend until saved
		for _, k := range []tea.KeyMsg{{Type: tea.KeyTab}, {Type: tea.KeyDown}, {Type: tea.KeyRunes, Runes: []rune("x")}, {Type: tea.KeyTab}} {
			p.Send(k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("q did not quit the program")
	}
}
