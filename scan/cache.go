package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/secret"
)

// Cache keeps scan results in an SQLite database, keyed by what was scanned
// and the engine's RulesetHash:
//
//   - per layer, by its compressed blob digest, stored only after a walk
//     verified the blob against that (sha256) digest, with the diff_id the
//     walk computed: redacted matches, fingerprints, coverage figures and
//     skipped files, and separately the layer's path listing (read only when
//     a finding's deleted/overwritten state needs it). A config's diff_id
//     is a claim, never a key: an image claiming a cached layer's diff_id
//     for another blob gets that blob walked;
//   - per set of config texts (Env, Labels, Cmd, Entrypoint, history) or
//     attestation blob, by the sha256 of the texts and their locations:
//     redacted matches and fingerprints.
//
// It never stores secret values. Safe for concurrent use, also by several
// processes (WAL mode, busy timeout).
type Cache struct {
	db   *sql.DB
	path string
}

// Table names carry the encoding version: bump them when layerResult's or
// the listing's encoding changes (old tables are then ignored).
const (
	layerTable = "layer_results_v4"
	textTable  = "text_results_v1"
)

// DefaultCacheDir is os.UserCacheDir()/strata.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory (name a cache directory, or set $XDG_CACHE_HOME): %w", err)
	}
	return filepath.Join(d, "strata"), nil
}

// OpenCache opens (creating if needed) the cache database in dir; dir ""
// means DefaultCacheDir.
func OpenCache(ctx context.Context, dir string) (*Cache, error) {
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	p := filepath.Join(dir, "scan-cache.db")
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
	if err != nil {
		return nil, fmt.Errorf("open scan cache %s: %w", p, err)
	}
	db.SetMaxOpenConns(4)
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+layerTable+` (
		layer    TEXT NOT NULL,
		ruleset  TEXT NOT NULL,
		diff_id  TEXT NOT NULL,
		created  INTEGER NOT NULL,
		result   BLOB NOT NULL,
		listing  BLOB NOT NULL,
		PRIMARY KEY (layer, ruleset));
	CREATE TABLE IF NOT EXISTS `+textTable+` (
		key      TEXT NOT NULL,
		ruleset  TEXT NOT NULL,
		created  INTEGER NOT NULL,
		matches  BLOB NOT NULL,
		PRIMARY KEY (key, ruleset));
	DROP TABLE IF EXISTS layer_results;
	DROP TABLE IF EXISTS layer_results_v2;
	DROP TABLE IF EXISTS layer_results_v3`) // versions 1 and 2 were keyed by the config's diff_id claim; 3 had listings without hard link targets
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise scan cache %s (delete it if it is corrupt): %w", p, err)
	}
	return &Cache{db: db, path: p}, nil
}

// Path is the database file.
func (c *Cache) Path() string { return c.path }

// Close closes the database.
func (c *Cache) Close() error { return c.db.Close() }

// getMany returns the cached results of the layers among keys (blob
// digests; without their listings: see listing), in one query, each with
// the diff_id its walk computed. Unreadable entries are misses (they are
// overwritten).
func (c *Cache) getMany(ctx context.Context, keys []string, ruleset string) (map[string]*layerResult, error) {
	out := map[string]*layerResult{}
	const batch = 500 // well under SQLite's limit on bound parameters
	for len(keys) > 0 {
		n := min(len(keys), batch)
		args := []any{ruleset}
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		q := `SELECT layer, diff_id, result FROM ` + layerTable + ` WHERE ruleset = ? AND layer IN (?` + strings.Repeat(",?", n-1) + `)`
		keys = keys[n:]
		rows, err := c.db.QueryContext(ctx, q, args...)
		if err != nil {
			return out, fmt.Errorf("read scan cache %s: %w", c.path, err)
		}
		for rows.Next() {
			var k, diffID string
			var blob sql.RawBytes // valid until Next; decodeResult copies it once
			if err := rows.Scan(&k, &diffID, &blob); err != nil {
				rows.Close()
				return out, fmt.Errorf("read scan cache %s: %w", c.path, err)
			}
			if lr, err := decodeResult(blob); err == nil {
				lr.FromCache, lr.diffID = true, image.Digest(diffID)
				out[k] = lr
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return out, fmt.Errorf("read scan cache %s: %w", c.path, err)
		}
	}
	return out, nil
}

// listing returns a cached layer's path listing.
func (c *Cache) listing(ctx context.Context, layer, ruleset string) ([]entryRec, error) {
	var blob []byte
	err := c.db.QueryRowContext(ctx, `SELECT listing FROM `+layerTable+` WHERE layer = ? AND ruleset = ?`,
		layer, ruleset).Scan(&blob)
	if err != nil {
		return nil, fmt.Errorf("read the path listing of layer %s from the scan cache %s: %w", layer, c.path, err)
	}
	es, err := decodeListing(blob)
	if err != nil {
		return nil, fmt.Errorf("path listing of layer %s in the scan cache %s is corrupt (delete the file): %w", layer, c.path, err)
	}
	return es, nil
}

// Listing returns the listing of the layer blob d that a scan walk recorded
// after verifying the blob against d (whatever the ruleset): one entry per
// tar entry, in tar order, with Path, Type, Linkname (hard links) and
// Unsafe set (other fields are zero), and the diff_id that walk computed.
// ok is false when the cache holds no listing of d. A blob with the same
// digest has the same tar entries, so the listing stands for reading it.
func (c *Cache) Listing(ctx context.Context, d image.Digest) (es []*layer.Entry, diffID image.Digest, ok bool, err error) {
	var blob []byte
	var diff string
	err = c.db.QueryRowContext(ctx, `SELECT diff_id, listing FROM `+layerTable+` WHERE layer = ? LIMIT 1`, string(d)).Scan(&diff, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("read the listing of layer %s from the scan cache %s: %w", d, c.path, err)
	}
	recs, err := decodeListing(blob)
	if err != nil {
		return nil, "", false, nil // a miss: the caller reads the layer
	}
	es = make([]*layer.Entry, len(recs))
	for i, r := range recs {
		e := &layer.Entry{Path: r.P, Type: layer.Type(r.T), Linkname: r.L}
		if r.U {
			e.Unsafe = "unsafe (as listed by the scan cache)"
		}
		es[i] = e
	}
	return es, image.Digest(diff), true, nil
}

// put stores the result of a walk that verified the blob layer (its
// digest), without secret values.
func (c *Cache) put(ctx context.Context, layer, ruleset string, lr *layerResult) error {
	res, err := encodeResult(lr)
	if err != nil {
		return err
	}
	_, err = c.db.ExecContext(ctx, `INSERT OR REPLACE INTO `+layerTable+` (layer, ruleset, diff_id, created, result, listing) VALUES (?, ?, ?, ?, ?, ?)`,
		layer, ruleset, string(lr.diffID), time.Now().Unix(), res, encodeListing(lr.Entries))
	if err != nil {
		return fmt.Errorf("write scan cache: %w", err)
	}
	return nil
}

// textItem is one text given to secret.Engine.ScanText.
type textItem struct {
	Loc  string `json:"l"`
	Text string `json:"t"`
}

// textKey identifies a list of texts by content: "sha256:" + hex.
func textKey(items []textItem) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(items)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// getTexts returns the cached matches for a list of texts; ok false on a
// miss.
func (c *Cache) getTexts(ctx context.Context, key, ruleset string) (ms []secret.Match, ok bool, err error) {
	var blob []byte
	err = c.db.QueryRowContext(ctx, `SELECT matches FROM `+textTable+` WHERE key = ? AND ruleset = ?`,
		key, ruleset).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read scan cache: %w", err)
	}
	if err := json.Unmarshal(blob, &ms); err != nil {
		return nil, false, nil // a miss; overwritten
	}
	return ms, true, nil
}

// putTexts stores the matches of a list of texts, without secret values.
func (c *Cache) putTexts(ctx context.Context, key, ruleset string, ms []secret.Match) error {
	clean := make([]secret.Match, len(ms))
	for i, m := range ms {
		m.Secret = "" // never persisted
		clean[i] = m
	}
	raw, err := json.Marshal(clean)
	if err != nil {
		return err
	}
	_, err = c.db.ExecContext(ctx, `INSERT OR REPLACE INTO `+textTable+` (key, ruleset, created, matches) VALUES (?, ?, ?, ?)`,
		key, ruleset, time.Now().Unix(), raw)
	if err != nil {
		return fmt.Errorf("write scan cache: %w", err)
	}
	return nil
}

// Encodings. A layer result is small except for its skipped-file list (one
// entry per binary file) and its listing (one per tar entry), so both use
// length-prefixed strings that decode into substrings of one string rather
// than JSON objects.
//
//	result:  version byte, uvarint Files Scanned Binary Members Bytes Size,
//	         uvarint n, n × (str path, str reason), str JSON of the matches
//	listing: gzip of (uvarint n, n × (type byte, str path[, str link]));
//	         the type byte's high bit marks an unsafe entry, a hard link
//	         (layer.TypeHardlink) is followed by its target
//	str:     uvarint length, bytes

const resultVersion = 1

// unsafeBit marks an unsafe entry in a listing's type byte.
const unsafeBit = 0x80

var errCorruptEntry = errors.New("corrupt cache entry")

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeResult(lr *layerResult) ([]byte, error) {
	ms := make([]fileMatch, len(lr.Matches))
	for i, m := range lr.Matches {
		m.Match.Secret = "" // never persisted
		ms[i] = m
	}
	mj, err := json.Marshal(ms)
	if err != nil {
		return nil, err
	}
	b := []byte{resultVersion}
	for _, n := range []int64{lr.Files, lr.Scanned, lr.Binary, lr.Members, lr.Bytes, lr.Size} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = binary.AppendUvarint(b, uint64(len(lr.Skips)))
	for _, s := range lr.Skips {
		b = appendStr(appendStr(b, s.Path), s.Reason)
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
	d.err = errCorruptEntry
	return 0
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.s)) {
		d.err = errCorruptEntry
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.s) == 0 {
		d.err = errCorruptEntry
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func decodeResult(blob []byte) (*layerResult, error) {
	d := &decoder{s: string(blob)}
	if d.byte() != resultVersion {
		return nil, errCorruptEntry
	}
	lr := &layerResult{}
	for _, p := range []*int64{&lr.Files, &lr.Scanned, &lr.Binary, &lr.Members, &lr.Bytes, &lr.Size} {
		*p = int64(d.uvarint())
	}
	n := d.uvarint()
	if n > uint64(len(d.s)) { // each skip takes two bytes at least
		return nil, errCorruptEntry
	}
	if n > 0 {
		lr.Skips = make([]skipRec, n)
		for i := range lr.Skips {
			lr.Skips[i] = skipRec{Path: d.str(), Reason: d.str()}
		}
	}
	mj := d.str()
	if d.err != nil || len(d.s) != 0 {
		return nil, errCorruptEntry
	}
	if err := json.Unmarshal([]byte(mj), &lr.Matches); err != nil {
		return nil, err
	}
	return lr, nil
}

func encodeListing(es []entryRec) []byte {
	b := binary.AppendUvarint(nil, uint64(len(es)))
	for _, e := range es {
		t := e.T
		if e.U {
			t |= unsafeBit
		}
		b = appendStr(append(b, t), e.P)
		if e.T == uint8(layer.TypeHardlink) {
			b = appendStr(b, e.L)
		}
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func decodeListing(blob []byte) ([]entryRec, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	d := &decoder{s: string(raw)}
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		return nil, errCorruptEntry
	}
	es := make([]entryRec, n)
	for i := range es {
		t := d.byte()
		es[i].T, es[i].U = t&^unsafeBit, t&unsafeBit != 0
		es[i].P = d.str()
		if es[i].T == uint8(layer.TypeHardlink) {
			es[i].L = d.str()
		}
	}
	if d.err != nil || len(d.s) != 0 {
		return nil, errCorruptEntry
	}
	return es, nil
}
