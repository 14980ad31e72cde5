package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratascan/strata/content"
)

func TestSplitReference(t *testing.T) {
	cases := []struct {
		in, name, driver, root string
		err                    bool
	}{
		{"app:1", "app:1", "", "", false},
		{"[vfs@/tmp/root+/tmp/run]app:1", "app:1", "vfs", "/tmp/root", false},
		{"[/var/lib/containers/storage]docker.io/library/alpine:3", "docker.io/library/alpine:3", "", "/var/lib/containers/storage", false},
		{"[overlay@relative]app", "", "", "", true},
		{"[vfs@/r]", "", "", "", true},
		{"[vfs@/r", "", "", "", true},
	}
	for _, c := range cases {
		name, driver, root, err := SplitReference(c.in)
		if c.err {
			if !errors.Is(err, content.ErrBadReference) {
				t.Errorf("%q: err %v, want ErrBadReference", c.in, err)
			}
			continue
		}
		if err != nil || name != c.name || driver != c.driver || root != c.root {
			t.Errorf("%q = %q %q %q %v", c.in, name, driver, root, err)
		}
	}
}

// TestBigDataName: the file names containers-storage gives big-data keys.
func TestBigDataName(t *testing.T) {
	for key, want := range map[string]string{
		"manifest": "manifest",
		"sha256:e56e4f6b543279999bb3b4d7f4ce054d19a02042e1067b5ad61eb9f813a09139": "=c2hhMjU2OmU1NmU0ZjZiNTQzMjc5OTk5YmIzYjRkN2Y0Y2UwNTRkMTlhMDIwNDJlMTA2N2I1YWQ2MWViOWY4MTNhMDkxMzk=",
	} {
		if got := bigDataName(key); got != want {
			t.Errorf("bigDataName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestRootGetterStaysInside: a tar-split record naming a file outside the
// layer directory, by .. or through a symlink, gets nothing.
func TestRootGetterStaysInside(t *testing.T) {
	parent := t.TempDir()
	os.WriteFile(filepath.Join(parent, "secret"), []byte("host file"), 0o600)
	dir := filepath.Join(parent, "layer")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "ok"), []byte("x"), 0o644)
	os.Symlink("../secret", filepath.Join(dir, "link"))
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g := &rootGetter{root: r}
	if f, err := g.Get("./ok"); err != nil {
		t.Fatalf("ok: %v", err)
	} else {
		f.Close()
	}
	for _, name := range []string{"../secret", "link", "/../secret"} {
		if f, err := g.Get(name); err == nil {
			f.Close()
			t.Errorf("Get(%q) escaped the layer directory", name)
		}
	}
}

func TestNoStore(t *testing.T) {
	_, err := Open(t.Context(), "[vfs@"+t.TempDir()+"]app", Options{})
	if err == nil {
		t.Fatal("opened an empty directory")
	}
	_, err = Open(t.Context(), "["+filepath.Join(t.TempDir(), "none")+"]app", Options{})
	if !errors.Is(err, ErrNoStore) {
		t.Errorf("missing root: %v, want ErrNoStore", err)
	}
}
