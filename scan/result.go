package scan

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/secret"
)

// ErrCorruptResult: bytes given to LayerResult.UnmarshalBinary, or a
// listing or text result read from a ResultStore, are not a valid
// encoding (damaged, truncated, or written by another version: a store
// treats it as a miss and overwrites it).
var ErrCorruptResult = errors.New("scan: corrupt stored scan result")

// ErrNoListing: a LayerResult has no path listing to encode (it was read
// back from a store, which keeps the listing beside it).
var ErrNoListing = errors.New("scan: layer result has no path listing")

// LayerResult is what scanning one layer yields, independent of the images
// that hold it: the redacted matches with their fingerprints, coverage
// figures, the files skipped, the diff_id as read, and the layer's path
// listing (for overlay states). It holds no secret value once encoded.
type LayerResult struct {
	Files   int64 // regular files in the layer
	Scanned int64 // files given to the engine
	Binary  int64 // files skipped as binary
	Members int64 // archive members scanned
	Bytes   int64 // content bytes scanned
	Size    int64 // uncompressed bytes of the layer
	// FromCache marks a result read from a ResultStore rather than walked
	// (not encoded: whoever reads it sets it). Assemble counts these in
	// Coverage.LayersFromCache.
	FromCache bool

	entries []entryRec
	matches []fileMatch
	skips   []skipRec
	// diffID is the digest of the layer's uncompressed tar as read (by the
	// walk, encoded with the result), never the config's claim.
	diffID image.Digest
	// listed: entries holds the listing (a stored result's listing is read
	// only when a finding's state needs it).
	listed bool
	// verified: the walk checked the blob against its (sha256) digest.
	verified bool
}

// DiffID is the digest of the layer's uncompressed tar as the walk read
// it (empty if unknown), never the config's claim.
func (r *LayerResult) DiffID() image.Digest { return r.diffID }

// Findings is the number of matches in the layer (before images place
// them and before ignore rules and confidence filters).
func (r *LayerResult) Findings() int { return len(r.matches) }

// Verified reports whether the walk that produced r checked the blob
// against its sha256 digest: only such a result may be stored under its
// key. False for a result decoded by UnmarshalBinary.
func (r *LayerResult) Verified() bool { return r.verified }

// Encodings. A layer result is small except for its skipped-file list (one
// entry per binary file) and its listing (one per tar entry), so both use
// length-prefixed strings that decode into substrings of one string rather
// than JSON objects.
//
//	result:  version byte (2), str diff_id, uvarint Files Scanned Binary
//	         Members Bytes Size, uvarint n, n × (str path, str reason),
//	         uvarint m, m × str file (the layer entry holding a match, kept
//	         byte for byte: it keys overlay states), str JSON of the m
//	         secret.Match values (secret values removed)
//	listing: gzip of (0, version byte (2), uvarint n, n × (flags byte,
//	         type byte, str path[, str link])): flag 1 marks an unsafe
//	         entry, flag 2 a hard link target that follows. Version 1 was
//	         (uvarint n, n × (type byte, str path)) without unsafe entries
//	         or link targets; it still decodes (for overlay states), and
//	         Cache.Listing treats it as a miss.
//	texts:   JSON of the matches (secret values removed)
//	str:     uvarint length, bytes
//
// Version 1 kept the diff_id outside the result.
const resultVersion = 2

// maxListingBytes bounds a decompressed listing (a stored one may be a
// gzip bomb): some 4 million entries of 60 bytes.
const maxListingBytes = 256 << 20

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// MarshalBinary encodes r without its listing (MarshalListing) and without
// secret values.
func (r *LayerResult) MarshalBinary() ([]byte, error) {
	return encodeResult(r)
}

// UnmarshalBinary decodes MarshalBinary's bytes, which may come from a
// database other processes write: any damage is an error wrapping
// ErrCorruptResult, never a panic, and nothing is allocated beyond the
// size of b. The result has no listing (see ResultStore.LayerListing).
func (r *LayerResult) UnmarshalBinary(b []byte) error {
	lr, err := decodeResult(b)
	if err != nil {
		return err
	}
	*r = *lr
	return nil
}

// MarshalListing encodes r's path listing, which a store keeps beside
// MarshalBinary's bytes and returns from LayerListing. Only a walked
// result has one (else ErrNoListing).
func (r *LayerResult) MarshalListing() ([]byte, error) {
	if !r.listed {
		return nil, ErrNoListing
	}
	return encodeListing(r.entries), nil
}

func corrupt(what string) error {
	return fmt.Errorf("%w: %s", ErrCorruptResult, what)
}

func encodeResult(lr *LayerResult) ([]byte, error) {
	ms := make([]secret.Match, len(lr.matches))
	for i, m := range lr.matches {
		m.Match.Secret = "" // never persisted
		ms[i] = m.Match
	}
	mj, err := json.Marshal(ms)
	if err != nil {
		return nil, fmt.Errorf("encode the matches of a layer result: %w", err)
	}
	b := appendStr([]byte{resultVersion}, string(lr.diffID))
	for _, n := range []int64{lr.Files, lr.Scanned, lr.Binary, lr.Members, lr.Bytes, lr.Size} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = binary.AppendUvarint(b, uint64(len(lr.skips)))
	for _, s := range lr.skips {
		b = appendStr(appendStr(b, s.Path), s.Reason)
	}
	b = binary.AppendUvarint(b, uint64(len(lr.matches)))
	for _, m := range lr.matches {
		b = appendStr(b, m.File)
	}
	return appendStr(b, string(mj)), nil
}

// decoder reads uvarints and strings from one string.
type decoder struct {
	s   string
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for i, shift := 0, 0; i < len(d.s) && i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		c := d.s[i]
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			d.s = d.s[i+1:]
			return x
		}
	}
	d.err = corrupt("bad or truncated number")
	return 0
}

// count reads a uvarint that must fit in an int64.
func (d *decoder) count() int64 {
	n := d.uvarint()
	if n > math.MaxInt64 && d.err == nil {
		d.err = corrupt("count out of range")
	}
	return int64(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.err = corrupt("string runs past the end")
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) byte() byte {
	if d.err == nil && len(d.s) == 0 {
		d.err = corrupt("truncated")
	}
	if d.err != nil {
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func decodeResult(blob []byte) (*LayerResult, error) {
	d := &decoder{s: string(blob)}
	if v := d.byte(); d.err == nil && v != resultVersion {
		return nil, corrupt(fmt.Sprintf("encoding version %d, want %d", v, resultVersion))
	}
	lr := &LayerResult{}
	if s := d.str(); s != "" {
		dg, err := image.ParseDigest(s)
		if err != nil {
			return nil, fmt.Errorf("%w: diff_id: %w", ErrCorruptResult, err)
		}
		lr.diffID = dg
	}
	for _, p := range []*int64{&lr.Files, &lr.Scanned, &lr.Binary, &lr.Members, &lr.Bytes, &lr.Size} {
		*p = d.count()
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.s)/2) { // each skip takes two bytes at least
		return nil, corrupt("more skipped files than bytes")
	}
	if n > 0 && d.err == nil {
		lr.skips = make([]skipRec, n)
		for i := range lr.skips {
			lr.skips[i] = skipRec{Path: d.str(), Reason: d.str()}
		}
	}
	files := d.strs("matches")
	mj := d.str()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.s) != 0 {
		return nil, corrupt("trailing bytes")
	}
	var ms []secret.Match
	if err := json.Unmarshal([]byte(mj), &ms); err != nil {
		return nil, fmt.Errorf("%w: matches: %w", ErrCorruptResult, err)
	}
	if len(ms) != len(files) {
		return nil, corrupt(fmt.Sprintf("%d matches for %d files", len(ms), len(files)))
	}
	if len(ms) > 0 {
		lr.matches = make([]fileMatch, len(ms))
		for i, m := range ms {
			m.Secret = "" // a store never holds one; never trust it to
			lr.matches[i] = fileMatch{File: files[i], Match: m}
		}
	}
	return lr, nil
}

// strs reads a count and that many strings (what: for the error).
func (d *decoder) strs(what string) []string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.s)) { // each string takes one byte at least
		d.err = corrupt("more " + what + " than bytes")
	}
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

// listingVersion is the listing encoding; a version 1 listing starts with
// its entry count, never with a 0 followed by more bytes.
const listingVersion = 2

// Listing entry flags.
const (
	flagUnsafe = 1 << iota
	flagLink
)

func encodeListing(es []entryRec) []byte {
	b := binary.AppendUvarint([]byte{0, listingVersion}, uint64(len(es)))
	for _, e := range es {
		var f byte
		if e.U {
			f |= flagUnsafe
		}
		if e.L != "" {
			f |= flagLink
		}
		b = appendStr(append(b, f, e.T), e.P)
		if e.L != "" {
			b = appendStr(b, e.L)
		}
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// decodeListing decodes either listing version; full reports version 2
// (every tar entry, with unsafe flags and hard link targets).
func decodeListing(blob []byte) (es []entryRec, full bool, err error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, false, fmt.Errorf("%w: listing: %w", ErrCorruptResult, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxListingBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("%w: listing: %w", ErrCorruptResult, err)
	}
	if len(raw) > maxListingBytes {
		return nil, false, corrupt(fmt.Sprintf("listing over %d bytes decompressed", maxListingBytes))
	}
	d := &decoder{s: string(raw)}
	full = len(raw) > 1 && raw[0] == 0
	if full {
		d.byte()
		if v := d.byte(); v != listingVersion {
			return nil, false, corrupt(fmt.Sprintf("listing encoding version %d, want %d", v, listingVersion))
		}
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.s)/2) { // each entry takes two bytes at least
		return nil, false, corrupt("more listing entries than bytes")
	}
	es = make([]entryRec, n)
	for i := range es {
		var f byte
		if full {
			f = d.byte()
		}
		es[i].T = d.byte()
		es[i].P = d.str()
		es[i].U = f&flagUnsafe != 0
		if f&flagLink != 0 {
			es[i].L = d.str()
		}
	}
	if d.err != nil {
		return nil, false, d.err
	}
	if len(d.s) != 0 {
		return nil, false, corrupt("trailing bytes in listing")
	}
	return es, full, nil
}

// encodeTexts is a text result's stored form: the matches without their
// secret values.
func encodeTexts(ms []secret.Match) ([]byte, error) {
	clean := make([]secret.Match, len(ms))
	for i, m := range ms {
		m.Secret = "" // never persisted
		clean[i] = m
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, fmt.Errorf("encode text matches: %w", err)
	}
	return b, nil
}

func decodeTexts(b []byte) ([]secret.Match, error) {
	var ms []secret.Match
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("%w: text matches: %w", ErrCorruptResult, err)
	}
	for i := range ms {
		ms[i].Secret = ""
	}
	return ms, nil
}
