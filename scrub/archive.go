package scrub

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/stratascan/strata/layer"
)

// memberName is how the secret engine names an archive member: the
// member's path cleaned, without a leading slash.
func memberName(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// memberSet splits member paths ("a/b.txt", "lib/x.jar!c.txt") into the
// members to drop at this level and those to drop inside nested archives.
func memberSet(members []string) (drop map[string]bool, nested map[string][]string) {
	drop, nested = map[string]bool{}, map[string][]string{}
	for _, m := range members {
		if outer, inner, ok := strings.Cut(m, "!"); ok {
			nested[outer] = append(nested[outer], inner)
		} else {
			drop[m] = true
		}
	}
	return drop, nested
}

// dropMembers writes to out the archive in, without members, and returns
// the members actually removed. Zip members are copied raw (their
// compressed bytes unchanged); tar members keep their headers; a gzipped
// tar is recompressed at the default level.
func dropMembers(in, out string, members []string, limit int64) ([]string, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	w, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var removed []string
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		removed, err = dropZip(f, st.Size(), w, members, limit)
		if err != nil {
			return nil, err
		}
	case layer.Sniff(head) == "gzip":
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return nil, err
		}
		zw := gzip.NewWriter(w)
		if removed, err = dropTar(zr, zw, members, limit); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case layer.IsTar(head):
		if removed, err = dropTar(f, w, members, limit); err != nil {
			return nil, err
		}
	default:
		return nil, errNotArchive
	}
	return removed, w.Close()
}

func dropZip(r io.ReaderAt, size int64, w io.Writer, members []string, limit int64) ([]string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("read zip: %w", err)
	}
	drop, nested := memberSet(members)
	zw := zip.NewWriter(w)
	if err := zw.SetComment(zr.Comment); err != nil {
		return nil, err
	}
	var removed []string
	for _, zf := range zr.File {
		name := memberName(zf.Name)
		switch {
		case drop[name]:
			removed = append(removed, name)
			continue
		case len(nested[name]) > 0:
			inner, err := rewriteNestedZip(zf, zw, nested[name], limit)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, m := range inner {
				removed = append(removed, name+"!"+m)
			}
			continue
		}
		if err := zw.Copy(zf); err != nil {
			return nil, fmt.Errorf("copy zip member %s: %w", name, err)
		}
	}
	return removed, zw.Close()
}

// rewriteNestedZip extracts a member archive, drops members from it and
// stores it back under the same header (recompressed with its method).
func rewriteNestedZip(zf *zip.File, zw *zip.Writer, members []string, limit int64) ([]string, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	in, out, err := spoolPair(rc, limit)
	rc.Close()
	if err != nil {
		return nil, err
	}
	defer os.Remove(in)
	defer os.Remove(out)
	removed, err := dropMembers(in, out, members, limit)
	if err != nil {
		return nil, err
	}
	fh := zf.FileHeader
	w, err := zw.CreateHeader(&fh)
	if err != nil {
		return nil, err
	}
	b, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	_, err = io.Copy(w, b)
	return removed, err
}

func spoolPair(r io.Reader, limit int64) (in, out string, err error) {
	f, err := os.CreateTemp("", "strata-scrub-member-*")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w: nested archive larger than %d bytes", ErrUnsupported, limit)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), f.Name() + ".new", nil
}

func dropTar(r io.Reader, w io.Writer, members []string, limit int64) ([]string, error) {
	drop, nested := memberSet(members)
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	var removed []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name := memberName(h.Name)
		if drop[name] {
			removed = append(removed, name)
			continue
		}
		if len(nested[name]) > 0 && h.Typeflag == tar.TypeReg {
			inner, err := rewriteNestedTar(tr, tw, h, nested[name], limit)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, m := range inner {
				removed = append(removed, name+"!"+m)
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	return removed, tw.Close()
}

func rewriteNestedTar(tr io.Reader, tw *tar.Writer, h *tar.Header, members []string, limit int64) ([]string, error) {
	in, out, err := spoolPair(tr, limit)
	if err != nil {
		return nil, err
	}
	defer os.Remove(in)
	defer os.Remove(out)
	removed, err := dropMembers(in, out, members, limit)
	if err != nil {
		return nil, err
	}
	b, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	st, err := b.Stat()
	if err != nil {
		return nil, err
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return nil, err
	}
	_, err = io.Copy(tw, b)
	return removed, err
}
