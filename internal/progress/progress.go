// Package progress draws progress bars for long work on a terminal. Bars
// are drawn on stderr only when it is a terminal and the user did not ask
// for quiet output; otherwise every call is a no-op.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar tracks several counters (one per layer, say) against a total.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	total   int64
	parts   map[int]int64
	last    time.Time
	enabled bool
	start   time.Time
}

// Enabled reports whether w is a terminal worth drawing on.
func Enabled(w io.Writer, quiet bool) bool {
	if quiet {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns a bar; with enabled false it draws nothing.
func New(w io.Writer, label string, total int64, enabled bool) *Bar {
	return &Bar{w: w, label: label, total: total, parts: map[int]int64{}, enabled: enabled, start: time.Now()}
}

// Set records that part i has reached n.
func (b *Bar) Set(i int, n int64) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.parts[i] = n
	if time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	b.draw()
}

func (b *Bar) draw() {
	var sum int64
	for _, n := range b.parts {
		sum += n
	}
	const width = 30
	frac := 0.0
	if b.total > 0 {
		frac = float64(sum) / float64(b.total)
		if frac > 1 {
			frac = 1
		}
	}
	filled := int(frac * width)
	rate := float64(sum) / time.Since(b.start).Seconds() / (1 << 20)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %.1f MiB/s ", b.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, rate)
}

// Update sets one overall counter and the total, for work whose size is
// known only once it starts.
func (b *Bar) Update(n, total int64) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	b.total = total
	clear(b.parts)
	b.mu.Unlock()
	b.Set(0, n)
}

// Done clears the bar's line.
func (b *Bar) Done() {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", len(b.label)+60))
}
