package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	var b bytes.Buffer
	bar := New(&b, "reading", 200, true)
	bar.Set(0, 50)
	bar.Set(1, 50) // throttled: within 100 ms of the last draw
	if !strings.Contains(b.String(), " 25%") || strings.Count(b.String(), "\r") != 1 {
		t.Fatalf("first draw = %q", b.String())
	}
	bar.last = bar.last.Add(-101 * time.Millisecond)
	bar.Update(150, 300)
	if !strings.Contains(b.String(), " 50%") {
		t.Fatalf("after Update = %q", b.String())
	}
	bar.Done()
	if !strings.HasSuffix(b.String(), "\r") {
		t.Fatalf("Done did not clear the line: %q", b.String())
	}
	var off bytes.Buffer
	quiet := New(&off, "x", 10, false)
	quiet.Set(0, 5)
	quiet.Done()
	if off.Len() != 0 || Enabled(&off, false) {
		t.Fatalf("a disabled bar wrote %q", off.String())
	}
}
