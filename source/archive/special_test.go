package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A tarball path that is a FIFO (whose open blocks) or a device (/dev/zero,
// endless) is refused at once, before it is opened.
func TestOpenTarRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.tar")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, zero} {
		done := make(chan error, 1)
		go func() { _, err := OpenTarDecompressed(context.Background(), p, "", 0); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegularFile) {
				t.Errorf("%s: %v, want ErrNotRegularFile", filepath.Base(p), err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still opening after 10s", filepath.Base(p))
		}
	}
}
