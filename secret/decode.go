package secret

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Encodings. After each buffer of text is scanned, a decode pass looks for
// encoded text in it and scans the decoded form again, under the same path:
//
//   - base64 / base64url: maximal runs of the alphabet of at least
//     b64MinRun characters (hex-only runs, digests, are left alone) that
//     decode to printable UTF-8; lines wrapped at 64 or 76 columns are
//     joined first;
//   - JSON/YAML string escapes: a line holding a "\n" escape and a PEM
//     "-----BEGIN" marker (a key in a service-account JSON, Terraform state,
//     a manifest), or "\/" or "\u00XX" escapes;
//   - URL percent-encoding: a line with %XX escapes of URL-reserved bytes.
//
// The decoded value replaces the encoded one in its line (at most
// decodeContext bytes either side), so key = value rules see their key.
// Decoded text is decoded again up to maxDecodeDepth levels (a
// .dockerconfigjson holding base64 "auth" values). Findings from decoded
// text carry Encoding, report the line of the encoded text and are dropped
// when the same rule found the same secret in the plain text; a generic or
// other low-confidence finding on a base64 run (the encoded value itself)
// gives way to a specific rule's finding in its decoded text. Rescanned
// bytes are bounded per buffer (decodeBudget), so the work stays linear.
//
// UTF-16 files (with a byte-order mark, or NULs in every other byte of
// ASCII text) are transcoded to UTF-8 as they stream.

const (
	b64MinRun      = 24
	b64MaxRun      = 64 << 10
	decodeContext  = 256
	maxDecodeDepth = 2
	// decodeBudget is the decoded text rescanned per buffer, beyond the
	// buffer's own size.
	decodeBudget = 64 << 10
)

// Encoding names reported in Match.Encoding.
const (
	EncodingBase64     = "base64"
	EncodingBase64URL  = "base64url"
	EncodingPercent    = "percent"
	EncodingJSONEscape = "json-escape"
	EncodingUTF16LE    = "utf-16le"
	EncodingUTF16BE    = "utf-16be"
)

// b64 classes: every alphabet byte has b64Any; '+' and '/' b64Std, '-' and
// '_' b64URL; bytes outside [0-9a-fA-F] b64NotHex.
const (
	b64Any uint8 = 1 << iota
	b64Std
	b64URL
	b64NotHex
)

var b64Class = func() (c [256]uint8) {
	for b := 0; b < 256; b++ {
		switch {
		case '0' <= b && b <= '9', 'a' <= b && b <= 'f', 'A' <= b && b <= 'F':
			c[b] = b64Any
		case 'g' <= b && b <= 'z', 'G' <= b && b <= 'Z':
			c[b] = b64Any | b64NotHex
		case b == '+' || b == '/':
			c[b] = b64Any | b64Std | b64NotHex
		case b == '-' || b == '_':
			c[b] = b64Any | b64URL | b64NotHex
		}
	}
	return c
}()

// decodeState is a fileScan's decoding state.
type decodeState struct {
	enc    string // encoding chain of the text scanned ("" for the file itself)
	depth  int
	lo, hi int // nested scans decode only text[lo:hi], the decoded part
	left   int // decoded bytes left to rescan in this buffer
	// plain holds rule+fingerprint of every finding delivered in this file
	plain map[string]struct{}
	// pending are findings in decoded text, emitted after the buffer's
	// plain findings; spans are the encoded runs they came from, whose
	// plain findings (the encoded value itself) give way to them
	pending []Match
	spans   [][2]int64
}

func (d *decodeState) reset() {
	d.enc, d.depth, d.lo, d.hi = "", 0, 0, -1
	clear(d.plain)
	d.pending, d.spans = d.pending[:0], d.spans[:0]
}

func (d *decodeState) delivered(m *Match) {
	if d.plain == nil {
		d.plain = map[string]struct{}{}
	}
	d.plain[m.RuleID+"\x00"+m.Fingerprint] = struct{}{}
}

// weakRule: generic and other low-confidence rules (keyword + entropy),
// whose finding on an encoded value gives way to a specific rule's finding
// in the decoded value.
func weakRule(id string) bool {
	return strings.Contains(id, "generic") || slices.Contains(docRules, id)
}

// givesWay reports whether a finding of rule r with its secret at [s, e)
// is the encoded form of a secret that a specific rule found decoded: r is
// generic or low-confidence and [s, e) overlaps such an encoded run.
// Specific rules on encoded values (kubeconfig client-key-data, Docker
// auths, .env values) keep their findings.
func (d *decodeState) givesWay(r *rule, s, e int64) bool {
	if len(d.spans) == 0 || !weakRule(r.ID) {
		return false
	}
	for _, sp := range d.spans {
		if s < sp[1] && sp[0] < e {
			return true
		}
	}
	return false
}

// flushDecoded emits the findings of decoded text that plain text did not
// already give.
func (fs *fileScan) flushDecoded() {
	for _, m := range fs.dec.pending {
		if _, dup := fs.dec.plain[m.RuleID+"\x00"+m.Fingerprint]; dup {
			continue
		}
		if fs.emit != nil {
			fs.emit(m)
		}
	}
	fs.dec.pending, fs.dec.spans = fs.dec.pending[:0], fs.dec.spans[:0]
}

// decodePass scans the decoded forms of encoded text starting in
// buf[from:limit].
func (fs *fileScan) decodePass(buf []byte, from, limit int) {
	if fs.dec.hi >= 0 {
		from, limit = max(from, fs.dec.lo), min(limit, fs.dec.hi)
	}
	if fs.dec.depth >= maxDecodeDepth || fs.err != nil || from >= limit {
		return
	}
	fs.dec.left = limit - from + decodeBudget
	fs.decodeBase64(buf, from, limit)
	fs.decodeEscapes(buf, from, limit)
}

// decodeBase64 finds base64 runs starting in buf[from:limit]. A run of
// b64MinRun bytes or more that starts in [i, i+b64MinRun) covers
// buf[i+b64MinRun-1], so one byte test skips b64MinRun bytes of ordinary
// text.
func (fs *fileScan) decodeBase64(buf []byte, from, limit int) {
	n := len(buf)
	i := from
	for i < n && i > 0 && b64Class[buf[i-1]] != 0 && b64Class[buf[i]] != 0 {
		i++ // the run began in the previous buffer, which decoded it
	}
	for i < limit && fs.dec.left > 0 && fs.err == nil {
		p := i + b64MinRun - 1
		if p >= n {
			return
		}
		if b64Class[buf[p]] == 0 {
			i = p + 1
			continue
		}
		s, cls := p, b64Class[buf[p]]
		for s > i && b64Class[buf[s-1]] != 0 {
			s--
			cls |= b64Class[buf[s]]
		}
		if s >= limit {
			return
		}
		if q := s + b64MinRun - 1; s > i && q < n && b64Class[buf[q]] == 0 {
			i = q + 1 // the run through p is too short, and so is any up to q
			continue
		}
		j := p + 1
		for j < n && b64Class[buf[j]] != 0 {
			cls |= b64Class[buf[j]]
			j++
		}
		if j-s >= b64MinRun && j-s <= b64MaxRun {
			src := buf[s:j]
			if w := j - s; w == 64 || w == 76 {
				src, j, cls = wrappedBase64(buf, s, j, cls)
			}
			if cls&b64NotHex != 0 && cls&(b64Std|b64URL) != b64Std|b64URL {
				end := j
				for end < n && end-j < 2 && buf[end] == '=' {
					end++
				}
				fs.tryBase64(buf, src, s, end, cls)
			}
		}
		i = j + 1
	}
}

// wrappedBase64 joins the lines of base64 wrapped at the width of its first
// line buf[s:j] (base64(1) wraps at 76 columns, PEM and openssl at 64): it
// returns the joined text, where the last line ends and the lines' classes.
func wrappedBase64(buf []byte, s, j int, cls uint8) ([]byte, int, uint8) {
	w, n := j-s, len(buf)
	var joined []byte
	for k := j; len(joined)+w <= b64MaxRun; {
		if k < n && buf[k] == '\r' {
			k++
		}
		if k >= n || buf[k] != '\n' {
			break
		}
		r := k + 1
		var c uint8
		for r < n && r-k-1 <= w && b64Class[buf[r]] != 0 {
			c |= b64Class[buf[r]]
			r++
		}
		l := r - k - 1
		if l == 0 || l > w || r < n && buf[r] != '\n' && buf[r] != '\r' && buf[r] != '=' {
			break
		}
		if joined == nil {
			joined = append(make([]byte, 0, 4*w), buf[s:j]...)
		}
		joined = append(joined, buf[k+1:r]...)
		cls |= c
		j, k = r, r
		if l < w {
			break // a shorter line is the last
		}
	}
	if joined == nil {
		return buf[s:j], j, cls
	}
	return joined, j, cls
}

// tryBase64 decodes src, the base64 at buf[s:pe] (padding included, line
// breaks of wrapped base64 removed) and, when it is printable text, scans
// it in its line.
func (fs *fileScan) tryBase64(buf, src []byte, s, pe int, cls uint8) {
	enc, name := base64.RawStdEncoding, EncodingBase64
	if cls&b64URL != 0 {
		enc, name = base64.RawURLEncoding, EncodingBase64URL
	}
	if len(src)%4 == 1 {
		return
	}
	// cheap looks at the first 6, then 24 bytes reject binary (and words,
	// paths and identifiers that are not base64) before decoding the rest
	var probe [24]byte
	for _, k := range [2]int{8, 32} {
		pn, err := enc.Decode(probe[:], src[:min(k, len(src)&^3)])
		if err != nil || !printable(probe[:pn]) {
			return
		}
	}
	dec := make([]byte, enc.DecodedLen(len(src)))
	m, err := enc.Decode(dec, src)
	if err != nil || !printable(dec[:m]) {
		return
	}
	fs.scanDecoded(buf, s, pe, dec[:m], name)
}

// printable reports whether b is UTF-8 text without control characters
// other than tab and line breaks (a multi-byte rune cut at the end is
// accepted).
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError {
			return len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:])
		}
		i += size
	}
	return true
}

// lineBounds returns the line around buf[s:e], at most decodeContext
// bytes either side.
func lineBounds(buf []byte, s, e int) (int, int) {
	lo := max(0, s-decodeContext)
	ls := lo
	if i := bytes.LastIndexByte(buf[lo:s], '\n'); i >= 0 {
		ls = lo + i + 1
	}
	hi := min(len(buf), e+decodeContext)
	le := hi
	if i := bytes.IndexByte(buf[e:hi], '\n'); i >= 0 {
		le = e + i
	}
	return ls, le
}

// scanDecoded scans dec, the decoded form of buf[s:e], in its line.
func (fs *fileScan) scanDecoded(buf []byte, s, e int, dec []byte, enc string) {
	ls, le := lineBounds(buf, s, e)
	text := make([]byte, 0, s-ls+len(dec)+le-e)
	text = append(text, buf[ls:s]...)
	text = append(text, dec...)
	text = append(text, buf[e:le]...)
	fs.scanNested(text, s-ls, s-ls+len(dec), fs.base+int64(s), fs.base+int64(e), enc)
}

// scanNested scans text, decoded from the encoded text at absolute offsets
// [at, end) (end == at: a whole line, no span), with a fresh fileScan whose
// decode pass looks only at text[from:to], the decoded part. Its findings
// become pending findings of fs.
func (fs *fileScan) scanNested(text []byte, from, to int, at, end int64, enc string) {
	if fs.dec.left <= 0 {
		return
	}
	fs.dec.left -= len(text)
	line := fs.lineAt(at)
	chain := enc
	if fs.dec.enc != "" {
		chain = fs.dec.enc + "+" + enc
	}
	outer := fs
	emit := func(m Match) {
		if weakRule(m.RuleID) && enc != EncodingBase64 && enc != EncodingBase64URL {
			// a line's escapes were no obstacle to keyword rules, which
			// already ran on it; a decoded value adds only their noise
			return
		}
		m.Line = line
		if m.Encoding == "" {
			m.Encoding = chain
		}
		outer.dec.pending = append(outer.dec.pending, m)
		if end > at && !weakRule(m.RuleID) {
			outer.dec.spans = append(outer.dec.spans, [2]int64{at, end})
		}
	}
	ns := fs.e.getFileScan()
	pooled := ns.buf
	ns.begin(fs.ctx, fs.path, emit, false)
	ns.dec.enc, ns.dec.depth, ns.dec.lo, ns.dec.hi = chain, fs.dec.depth+1, from, to
	ns.scanBuffer(text, 0, len(text))
	if ns.err != nil {
		fs.err = ns.err
	}
	ns.finish()
	ns.buf = pooled[:0]
	fs.e.pool.Put(ns)
}

// decodeEscapes finds lines with JSON string escapes or percent-encoding
// in buf[from:limit].
func (fs *fileScan) decodeEscapes(buf []byte, from, limit int) {
	for _, c := range []byte{'\\', '%'} {
		done := from // lines before done were handled
		for i := from; i < limit && fs.dec.left > 0 && fs.err == nil; {
			k := bytes.IndexByte(buf[i:limit], c)
			if k < 0 {
				break
			}
			p := i + k
			i = p + 1
			if p < done || p+2 >= len(buf) {
				continue
			}
			enc := escapeAt(buf, p)
			if enc == "" {
				continue
			}
			ls, le := escapeLine(buf, p)
			done, i = le, le
			var dec []byte
			if enc == EncodingPercent {
				dec = percentDecode(buf[ls:le])
			} else {
				dec = jsonUnescape(buf[ls:le])
			}
			if dec != nil && printable(dec) {
				fs.scanNested(dec, 0, len(dec), fs.base+int64(ls), fs.base+int64(ls), enc)
			}
		}
	}
}

// escapeAt says which encoding the escape at buf[p] ('\\' or '%', with two
// bytes after it) starts, if it is one decodePass handles.
func escapeAt(buf []byte, p int) string {
	switch {
	case buf[p] == '%':
		if isHex(buf[p+1]) && isHex(buf[p+2]) && urlReserved(unhex(buf[p+1])<<4|unhex(buf[p+2])) {
			return EncodingPercent
		}
	case buf[p+1] == '/' || buf[p+1] == 'u' && bytes.HasPrefix(buf[p+2:], []byte("00")):
		return EncodingJSONEscape
	case buf[p+1] == 'n':
		ls, le := lineBounds(buf, p, p)
		if bytes.Contains(buf[ls:le], []byte("-----BEGIN")) {
			return EncodingJSONEscape
		}
	}
	return ""
}

// escapeLine is the line around buf[p], up to keepBefore bytes before and
// keepAfter - 1 after (a PEM key in a one-line JSON string is a few KB).
func escapeLine(buf []byte, p int) (int, int) {
	lo := max(0, p-keepBefore)
	ls := lo
	if i := bytes.LastIndexByte(buf[lo:p], '\n'); i >= 0 {
		ls = lo + i + 1
	}
	hi := min(len(buf), p+keepAfter-1)
	le := hi
	if i := bytes.IndexByte(buf[p:hi], '\n'); i >= 0 {
		le = p + i
	}
	return ls, le
}

func isHex(b byte) bool { return b64Class[b] == b64Any }

func unhex(b byte) byte {
	switch {
	case b <= '9':
		return b - '0'
	case b >= 'a':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}

// urlReserved: bytes RFC 3986 reserves (gen-delims and sub-delims) and '%'.
func urlReserved(b byte) bool {
	return bytes.IndexByte([]byte(":/?#[]@!$&'()*+,;=%"), b) >= 0
}

// percentDecode decodes every %XX in line; nil when there is none.
func percentDecode(line []byte) []byte {
	out := make([]byte, 0, len(line))
	changed := false
	for i := 0; i < len(line); i++ {
		if line[i] == '%' && i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
			out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
			i += 2
			changed = true
			continue
		}
		out = append(out, line[i])
	}
	if !changed {
		return nil
	}
	return out
}

// jsonUnescape decodes JSON string escapes (RFC 8259 section 7, which
// YAML double-quoted scalars share) in line; other bytes stay; nil when
// nothing changed.
func jsonUnescape(line []byte) []byte {
	out := make([]byte, 0, len(line))
	changed := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c != '\\' || i+1 >= len(line) {
			out = append(out, c)
			continue
		}
		r := rune(-1)
		switch line[i+1] {
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case '"', '\\', '/', '\'':
			r = rune(line[i+1])
		case 'u':
			if v, ok := hex4(line[i+2:]); ok {
				i += 4
				r = v
				if utf16.IsSurrogate(r) {
					if len(line) >= i+8 && line[i+2] == '\\' && line[i+3] == 'u' {
						if w, ok := hex4(line[i+4:]); ok {
							r = utf16.DecodeRune(r, w)
							i += 6
						}
					}
				}
			}
		}
		if r < 0 {
			out = append(out, c)
			continue
		}
		out = utf8.AppendRune(out, r)
		i++
		changed = true
	}
	if !changed {
		return nil
	}
	return out
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range b[:4] {
		if !isHex(c) {
			return 0, false
		}
		v = v<<4 | rune(unhex(c))
	}
	return v, true
}

// utf16Reader transcodes UTF-16 to UTF-8 as it streams.
type utf16Reader struct {
	r    io.Reader
	be   bool
	in   [8 << 10]byte
	nin  int    // bytes in in
	out  []byte // UTF-8 not yet returned
	obuf []byte
	high rune // a high surrogate waiting for its pair, or 0
	err  error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		n, err := u.r.Read(u.in[u.nin:])
		u.nin += n
		if err != nil {
			u.err = err
		}
		u.transcode()
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

func (u *utf16Reader) transcode() {
	if u.obuf == nil {
		u.obuf = make([]byte, 0, 3*len(u.in)/2+8)
	}
	out := u.obuf[:0]
	i := 0
	for ; i+1 < u.nin; i += 2 {
		c := rune(u.in[i]) | rune(u.in[i+1])<<8
		if u.be {
			c = rune(u.in[i])<<8 | rune(u.in[i+1])
		}
		switch {
		case u.high != 0 && utf16.IsSurrogate(c) && c >= 0xdc00:
			out = utf8.AppendRune(out, utf16.DecodeRune(u.high, c))
			u.high = 0
			continue
		case u.high != 0:
			out = utf8.AppendRune(out, utf8.RuneError)
			u.high = 0
		}
		if utf16.IsSurrogate(c) && c < 0xdc00 {
			u.high = c
			continue
		}
		out = utf8.AppendRune(out, c)
	}
	u.nin = copy(u.in[:], u.in[i:u.nin])
	u.out = out
}

// scanUTF16 scans a UTF-16 file as UTF-8 text; findings say so in Encoding.
func (e *Engine) scanUTF16(ctx context.Context, k kind, name string, r io.Reader, emit func(Match), st *FileStats) error {
	u := &utf16Reader{r: r, be: k == kindUTF16BE}
	enc := EncodingUTF16LE
	if u.be {
		enc = EncodingUTF16BE
	}
	var bom [2]byte
	if n, _ := io.ReadFull(r, bom[:]); n == 2 && (bom == [2]byte{0xff, 0xfe} || bom == [2]byte{0xfe, 0xff}) {
		// a byte-order mark is not content
	} else {
		copy(u.in[:], bom[:n])
		u.nin = n
	}
	return e.scanStream(ctx, name, -1, u, func(m Match) {
		if m.Encoding == "" {
			m.Encoding = enc
		} else {
			m.Encoding = enc + "+" + m.Encoding
		}
		if emit != nil {
			emit(m)
		}
	}, st)
}
