package secret

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// Encodings. After each buffer of text is scanned, a decode pass looks for
// encoded text in it and scans the decoded form again, under the same path:
//
//   - base64 / base64url: maximal runs of the alphabet of at least
//     b64MinRun characters (hex-only runs, digests, are left alone) that
//     decode to printable UTF-8;
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
// when the same rule found the same secret in the plain text. Rescanned
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

// decodePass scans the decoded forms of encoded text starting in
// buf[from:limit].
func (fs *fileScan) decodePass(buf []byte, from, limit int) {
	if fs.encDepth >= maxDecodeDepth || fs.err != nil || from >= limit {
		return
	}
	fs.decodeLeft = limit - from + decodeBudget
	fs.decodeBase64(buf, from, limit)
	fs.decodeEscapes(buf, from, limit)
}

// decodeBase64 finds base64 runs starting in buf[from:limit].
func (fs *fileScan) decodeBase64(buf []byte, from, limit int) {
	n := len(buf)
	i := from
	if i > 0 && b64Class[buf[i-1]] != 0 {
		for i < limit && b64Class[buf[i]] != 0 {
			i++ // the run began in the previous buffer, which decoded it
		}
	}
	for i < limit && fs.decodeLeft > 0 && fs.err == nil {
		if b64Class[buf[i]] == 0 {
			i++
			continue
		}
		j := i
		var cls uint8
		for j < n && b64Class[buf[j]] != 0 {
			cls |= b64Class[buf[j]]
			j++
		}
		if j-i >= b64MinRun && j-i <= b64MaxRun && cls&b64NotHex != 0 && cls&(b64Std|b64URL) != b64Std|b64URL {
			end := j
			for end < n && end-j < 2 && buf[end] == '=' {
				end++
			}
			fs.tryBase64(buf, i, j, end, cls)
		}
		i = j + 1
	}
}

// tryBase64 decodes buf[s:e] (padding up to pe) and, when it is printable
// text, scans it in its line.
func (fs *fileScan) tryBase64(buf []byte, s, e, pe int, cls uint8) {
	enc, name := base64.RawStdEncoding, EncodingBase64
	if cls&b64URL != 0 {
		enc, name = base64.RawURLEncoding, EncodingBase64URL
	}
	src := buf[s:e]
	if len(src)%4 == 1 {
		return
	}
	// a cheap look at the first 24 bytes rejects binary (and non-base64
	// words) before decoding the rest
	var probe [24]byte
	pn, err := enc.Decode(probe[:], src[:min(32, len(src)&^3)])
	if err != nil || !printable(probe[:pn]) {
		return
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
	fs.scanNested(text, s-ls, s-ls+len(dec), fs.base+int64(s), enc)
}

// scanNested scans text (decoded from the encoded text at absolute offset
// at) with a fresh fileScan; its own decode pass looks only at
// text[from:to], the decoded part.
func (fs *fileScan) scanNested(text []byte, from, to int, at int64, enc string) {
	if fs.decodeLeft <= 0 {
		return
	}
	fs.decodeLeft -= len(text)
	line := fs.lineAt(at)
	chain := enc
	if fs.enc != "" {
		chain = fs.enc + "+" + enc
	}
	outer := fs
	emit := func(m Match) {
		if _, dup := outer.plain[m.RuleID+"\x00"+m.Fingerprint]; dup {
			return
		}
		m.Line = line
		if m.Encoding == "" {
			m.Encoding = chain
		}
		if outer.emit != nil {
			outer.emit(m)
		}
	}
	ns := fs.e.getFileScan()
	pooled := ns.buf
	ns.begin(fs.ctx, fs.path, emit, false)
	ns.enc, ns.encDepth = chain, fs.encDepth+1
	ns.scanBuffer(text, 0, len(text))
	ns.decodePass(text, from, to)
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
	done := from // lines before done were handled
	for i := from; i < limit && fs.decodeLeft > 0 && fs.err == nil; {
		k := bytes.IndexAny(buf[i:limit], `\%`)
		if k < 0 {
			return
		}
		p := i + k
		i = p + 1
		if p < done || p+2 >= len(buf) {
			continue
		}
		var enc string
		switch {
		case buf[p] == '%' && isHex(buf[p+1]) && isHex(buf[p+2]) && urlReserved(unhex(buf[p+1])<<4|unhex(buf[p+2])):
			enc = EncodingPercent
		case buf[p] == '\\' && (buf[p+1] == '/' || buf[p+1] == 'u' && bytes.HasPrefix(buf[p+2:], []byte("00"))):
			enc = EncodingJSONEscape
		case buf[p] == '\\' && buf[p+1] == 'n':
			ls, le := lineBounds(buf, p, p)
			if !bytes.Contains(buf[ls:le], []byte("-----BEGIN")) {
				continue
			}
			enc = EncodingJSONEscape
		default:
			continue
		}
		ls, le := escapeLine(buf, p)
		done = le
		i = le
		var dec []byte
		if enc == EncodingPercent {
			dec = percentDecode(buf[ls:le])
		} else {
			dec = jsonUnescape(buf[ls:le])
		}
		if dec != nil && printable(dec) {
			fs.scanNested(dec, 0, len(dec), fs.base+int64(ls), enc)
		}
	}
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
					if w, ok := hex4(line[i+4:]); ok && line[i+2] == '\\' && line[i+3] == 'u' {
						r = utf16.DecodeRune(r, w)
						i += 6
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
