package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
)

func TestTableFitsTerminalWidth(t *testing.T) {
	long := "/usr/lib/python3/dist-packages/some/very/long/path/that/goes/on/and/on/and/on/file.py"
	rows := [][]string{{"-rw-r--r--", "123", "1", "file", "present", long}, {"drwxr-xr-x", "0", "0", "dir", "deleted by 2", "/app"}}
	head := []string{"MODE", "SIZE", "LAYER", "TYPE", "STATE", "PATH"}
	for _, width := range []int{60, 80, 120} {
		var b bytes.Buffer
		if err := Table(&Styled{Writer: &b, Width: width}, head, rows); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if w := runewidth.StringWidth(line); w > width {
				t.Errorf("width %d: line of %d columns: %q", width, w, line)
			}
		}
		if width < 100 && !strings.Contains(b.String(), "…") {
			t.Errorf("width %d: long path not truncated with an ellipsis:\n%s", width, b.String())
		}
	}
	// Piped (no Styled): full values, no escape codes.
	var b bytes.Buffer
	if err := Table(&b, head, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), long) || strings.Contains(b.String(), "\x1b[") {
		t.Errorf("plain table truncated or coloured:\n%s", b.String())
	}
}

func TestTableColour(t *testing.T) {
	var b bytes.Buffer
	rows := [][]string{{"CRITICAL", "rule", "/a", "DELETED by layer 2"}, {"LOW", "rule", "/b", "present"}}
	if err := Table(&Styled{Writer: &b, Color: true}, nil, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{boldRd + "CRITICAL" + reset, red + "DELETED by layer 2" + reset, cyan + "LOW" + reset} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	if strings.Contains(out, "\x1b[0mpresent") || strings.Contains(out, "/a"+reset) {
		t.Errorf("coloured a plain cell: %q", out)
	}
	// Alignment ignores escape codes: both rows' third column starts at the same offset.
	lines := strings.Split(strings.TrimRight(stripANSI(out), "\n"), "\n")
	if strings.Index(lines[0], "/a") != strings.Index(lines[1], "/b") {
		t.Errorf("colour broke alignment:\n%s", strings.Join(lines, "\n"))
	}
}

func stripANSI(s string) string {
	for _, c := range []string{red, boldRd, yellow, cyan, green, reset} {
		s = strings.ReplaceAll(s, c, "")
	}
	return s
}

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 images"}, {1, "1 image"}, {2, "2 images"}} {
		if got := Plural(c.n, "image", "images"); got != c.want {
			t.Errorf("Plural(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestRelativeURI(t *testing.T) {
	for in, want := range map[string]string{
		"app/.env":                      "app/.env",
		"oci:examples/leaky-app:latest": "oci%3Aexamples/leaky-app%3Alatest",
		"dir with space/a#b":            "dir%20with%20space/a%23b",
	} {
		if got := relativeURI(in); got != want {
			t.Errorf("relativeURI(%q) = %q, want %q", in, got, want)
		}
	}
}
