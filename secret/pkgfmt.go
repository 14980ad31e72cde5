package secret

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Package formats: Debian packages (ar), RPM packages (lead, headers, a
// compressed cpio payload). Both readers are small and bounded: every
// length they read is checked against the format's limits before use, and
// every byte goes through the archive byte budget.

var errPkgFormat = errors.New("malformed package")

// arReader reads a System V / GNU ar archive as written by dpkg-deb
// (deb(5): members debian-binary, control.tar.*, data.tar.*).
type arReader struct {
	r      *bufio.Reader
	remain int64 // bytes left of the current member
	pad    bool  // the current member is followed by a padding byte
}

// next returns the next member's name and size; io.EOF at the end.
func (a *arReader) next() (string, int64, error) {
	skip := a.remain
	if a.pad {
		skip++
	}
	if _, err := io.CopyN(io.Discard, a.r, skip); err != nil {
		return "", 0, fmt.Errorf("ar: %w", errUnexpected(err))
	}
	a.remain, a.pad = 0, false
	var h [60]byte
	n, err := io.ReadFull(a.r, h[:])
	if err == io.EOF {
		return "", 0, io.EOF
	}
	if err != nil || n != 60 || string(h[58:60]) != "`\n" {
		return "", 0, fmt.Errorf("ar: bad member header: %w", errPkgFormat)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("ar: bad member size %q: %w", h[48:58], errPkgFormat)
	}
	name := strings.TrimSuffix(strings.TrimSpace(string(h[:16])), "/")
	a.remain, a.pad = size, size%2 == 1
	return name, size, nil
}

func (a *arReader) Read(p []byte) (int, error) {
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.r.Read(p)
	a.remain -= int64(n)
	if err == io.EOF && a.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func errUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// scanAr scans a Debian package's members: data.tar.xz and friends are
// compressed tars opened one level down (pkg.deb!data.tar.xz!etc/file).
func (e *Engine) scanAr(ctx context.Context, name string, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	br := bufio.NewReader(&budgetReader{r: r, budget: budget})
	if _, err := br.Discard(8); err != nil {
		return errCorrupt{fmt.Errorf("ar %s: %w", name, errUnexpected(err))}
	}
	ar := &arReader{r: br}
	for {
		member, size, err := ar.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errCorrupt{fmt.Errorf("%s: %w", name, err)}
		}
		if member == "" {
			continue
		}
		if err := e.scanMember(ctx, memberName(name, member), size, ar, emit, depth, budget, st); err != nil {
			return err
		}
	}
}

// RPM file format (rpm's doc/manual/format_v4): a 96-byte lead, a signature
// header padded to 8 bytes, the main header, then the payload: a cpio
// archive, normally compressed. A header is a magic, a count of 16-byte
// index entries and a data size.
const (
	rpmLeadSize     = 96
	rpmMaxIndex     = 0xffff    // rpm's HEADER_TAGS_MAX
	rpmMaxHeaderLen = 256 << 20 // rpm's HEADER_DATA_MAX
)

// skipRpmHeader reads past one header and returns its length.
func skipRpmHeader(r *bufio.Reader) (int64, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("rpm header: %w", errUnexpected(err))
	}
	if !bytes.Equal(h[:3], []byte{0x8e, 0xad, 0xe8}) || h[3] != 1 {
		return 0, fmt.Errorf("rpm header: bad magic: %w", errPkgFormat)
	}
	nindex, hsize := binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	if nindex > rpmMaxIndex || hsize > rpmMaxHeaderLen {
		return 0, fmt.Errorf("rpm header: %d entries, %d bytes of data: %w", nindex, hsize, errPkgFormat)
	}
	n := int64(nindex)*16 + int64(hsize)
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return 0, fmt.Errorf("rpm header: %w", errUnexpected(err))
	}
	return 16 + n, nil
}

// scanRpm scans an RPM package's payload files as pkg.rpm!path.
func (e *Engine) scanRpm(ctx context.Context, name string, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	br := bufio.NewReader(&budgetReader{r: r, budget: budget})
	if _, err := br.Discard(rpmLeadSize); err != nil {
		return errCorrupt{fmt.Errorf("rpm %s: lead: %w", name, errUnexpected(err))}
	}
	n, err := skipRpmHeader(br)
	if err != nil {
		return errCorrupt{fmt.Errorf("rpm %s: signature: %w", name, err)}
	}
	if pad := (8 - n%8) % 8; pad > 0 {
		if _, err := br.Discard(int(pad)); err != nil {
			return errCorrupt{fmt.Errorf("rpm %s: %w", name, errUnexpected(err))}
		}
	}
	if _, err := skipRpmHeader(br); err != nil {
		return errCorrupt{fmt.Errorf("rpm %s: %w", name, err)}
	}
	head, _ := br.Peek(16)
	var payload io.Reader = br
	switch k, what := sniff(head); {
	case k == kindGzip || k == kindXz || k == kindZstd || k == kindBzip2:
		d, err := openCompressed(k, br)
		if err != nil {
			st.SkipReason = "rpm payload: " + err.Error()
			return nil
		}
		defer d.release()
		payload = &budgetReader{r: d.r, budget: budget}
	case bytes.HasPrefix(head, []byte("07070")):
	default:
		st.SkipReason = fmt.Sprintf("rpm payload: unsupported compression (%s %q)", what, head[:min(len(head), 6)])
		return nil
	}
	return e.scanCpio(ctx, name, payload, emit, depth, budget, st)
}

// cpioReader reads the "newc" cpio format (070701, or 070702 with
// checksums) that rpm payloads and initramfs images use.
type cpioReader struct {
	r      *bufio.Reader
	remain int64
	pad    int64
}

const cpioMaxName = 4096

// next returns the next entry's name, size and whether it is a regular
// file; io.EOF after the TRAILER!!! entry.
func (c *cpioReader) next() (string, int64, bool, error) {
	if _, err := io.CopyN(io.Discard, c.r, c.remain+c.pad); err != nil {
		return "", 0, false, fmt.Errorf("cpio: %w", errUnexpected(err))
	}
	c.remain, c.pad = 0, 0
	var h [110]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return "", 0, false, fmt.Errorf("cpio: %w", errUnexpected(err))
	}
	if string(h[:6]) != "070701" && string(h[:6]) != "070702" {
		return "", 0, false, fmt.Errorf("cpio: unsupported header %q: %w", h[:6], errPkgFormat)
	}
	field := func(i int) (int64, error) {
		return strconv.ParseInt(string(h[6+8*i:14+8*i]), 16, 64)
	}
	mode, err1 := field(1)
	size, err2 := field(6)
	nameSize, err3 := field(11)
	if err := errors.Join(err1, err2, err3); err != nil || nameSize < 1 || nameSize > cpioMaxName {
		return "", 0, false, fmt.Errorf("cpio: bad header fields: %w", errPkgFormat)
	}
	nb := make([]byte, nameSize+(4-(110+nameSize)%4)%4)
	if _, err := io.ReadFull(c.r, nb); err != nil {
		return "", 0, false, fmt.Errorf("cpio: %w", errUnexpected(err))
	}
	name := string(bytes.TrimRight(nb[:nameSize], "\x00"))
	if name == "TRAILER!!!" {
		return "", 0, false, io.EOF
	}
	c.remain, c.pad = size, (4-size%4)%4
	return name, size, mode&0o170000 == 0o100000, nil
}

func (c *cpioReader) Read(p []byte) (int, error) {
	if c.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.r.Read(p)
	c.remain -= int64(n)
	if err == io.EOF && c.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (e *Engine) scanCpio(ctx context.Context, name string, r io.Reader, emit func(Match), depth int, budget *int64, st *FileStats) error {
	cr := &cpioReader{r: bufio.NewReader(r)}
	for {
		member, size, regular, err := cr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errCorrupt{fmt.Errorf("%s: %w", name, err)}
		}
		if !regular || size == 0 {
			continue // hard links carry their data on the last entry only
		}
		if err := e.scanMember(ctx, memberName(name, member), size, cr, emit, depth, budget, st); err != nil {
			return err
		}
	}
}
