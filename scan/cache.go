package scan

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/layer"
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
//
// It implements ResultStore.
type Cache struct {
	db   *sql.DB
	path string
}

// Table names carry the encoding version: bump them when LayerResult's or
// the listing's encoding changes (old tables are dropped).
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
	DROP TABLE IF EXISTS layer_results_v3`) // 1 and 2 were keyed by the config's diff_id claim; 3 kept the diff_id beside the result: never read again
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise scan cache %s (delete it if it is corrupt): %w", p, err)
	}
	return &Cache{db: db, path: p}, nil
}

// Path is the database file.
func (c *Cache) Path() string { return c.path }

// Results returns c as a ResultStore for Options.Results, and nil when c
// is nil (a nil *Cache in the interface would not compare equal to nil).
func (c *Cache) Results() ResultStore {
	if c == nil {
		return nil
	}
	return c
}

// Close closes the database.
func (c *Cache) Close() error { return c.db.Close() }

// LayerResults returns the stored results of the layers among keys (blob
// digests; without their listings: see LayerListing), in one query per 500
// keys, each with the diff_id its walk computed. Undecodable entries are
// misses (they are overwritten).
func (c *Cache) LayerResults(ctx context.Context, keys []string, ruleset string) (map[string]*LayerResult, error) {
	out := map[string]*LayerResult{}
	const batch = 500 // well under SQLite's limit on bound parameters
	for len(keys) > 0 {
		n := min(len(keys), batch)
		args := []any{ruleset}
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		q := `SELECT layer, result FROM ` + layerTable + ` WHERE ruleset = ? AND layer IN (?` + strings.Repeat(",?", n-1) + `)`
		keys = keys[n:]
		rows, err := c.db.QueryContext(ctx, q, args...)
		if err != nil {
			return out, fmt.Errorf("read scan cache %s: %w", c.path, err)
		}
		for rows.Next() {
			var k string
			var blob sql.RawBytes // valid until Next; decodeResult copies it once
			if err := rows.Scan(&k, &blob); err != nil {
				rows.Close()
				return out, fmt.Errorf("read scan cache %s: %w", c.path, err)
			}
			if lr, err := decodeResult(blob); err == nil {
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

// LayerListing returns the encoded path listing stored with a layer's
// result, nil if there is none.
func (c *Cache) LayerListing(ctx context.Context, layer, ruleset string) ([]byte, error) {
	var blob []byte
	err := c.db.QueryRowContext(ctx, `SELECT listing FROM `+layerTable+` WHERE layer = ? AND ruleset = ?`,
		layer, ruleset).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the path listing of layer %s from the scan cache %s: %w", layer, c.path, err)
	}
	return blob, nil
}

// Listing returns the listing of the layer blob d that a scan walk recorded
// after verifying the blob against d (whatever the ruleset): one entry per
// tar entry, in tar order, with Path, Type, Linkname (hard links) and
// Unsafe set (other fields are zero), and the diff_id that walk computed.
// ok is false when the cache holds no such listing of d (none, damaged, or
// written by a version that left out unsafe entries and link targets). A
// blob with the same digest has the same tar entries, so the listing
// stands for reading it.
func (c *Cache) Listing(ctx context.Context, d image.Digest) (es []*layer.Entry, diffID image.Digest, ok bool, err error) {
	var res, blob []byte
	err = c.db.QueryRowContext(ctx, `SELECT result, listing FROM `+layerTable+` WHERE layer = ? LIMIT 1`, string(d)).Scan(&res, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("read the listing of layer %s from the scan cache %s: %w", d, c.path, err)
	}
	lr, err := decodeResult(res)
	if err != nil || lr.diffID == "" {
		return nil, "", false, nil // a miss: the caller reads the layer
	}
	recs, full, err := decodeListing(blob)
	if err != nil || !full {
		return nil, "", false, nil
	}
	es = make([]*layer.Entry, len(recs))
	for i, r := range recs {
		e := &layer.Entry{Path: r.P, Type: layer.Type(r.T), Linkname: r.L}
		if r.U {
			e.Unsafe = "unsafe (as listed by the scan cache)"
		}
		es[i] = e
	}
	return es, lr.diffID, true, nil
}

// PutLayerResult stores the result of a walk that verified the blob layer
// (its digest) and its listing, without secret values.
func (c *Cache) PutLayerResult(ctx context.Context, layer, ruleset string, lr *LayerResult) error {
	res, err := lr.MarshalBinary()
	if err != nil {
		return err
	}
	listing, err := lr.MarshalListing()
	if err != nil {
		return fmt.Errorf("store layer %s: %w", layer, err)
	}
	_, err = c.db.ExecContext(ctx, `INSERT OR REPLACE INTO `+layerTable+` (layer, ruleset, created, result, listing) VALUES (?, ?, ?, ?, ?)`,
		layer, ruleset, time.Now().Unix(), res, listing)
	if err != nil {
		return fmt.Errorf("write scan cache %s: %w", c.path, err)
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

// TextResult returns the stored matches of a list of texts (encoded);
// ok false on a miss.
func (c *Cache) TextResult(ctx context.Context, key, ruleset string) (matches []byte, ok bool, err error) {
	err = c.db.QueryRowContext(ctx, `SELECT matches FROM `+textTable+` WHERE key = ? AND ruleset = ?`,
		key, ruleset).Scan(&matches)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read scan cache %s: %w", c.path, err)
	}
	return matches, true, nil
}

// PutTextResult stores the encoded matches of a list of texts.
func (c *Cache) PutTextResult(ctx context.Context, key, ruleset string, matches []byte) error {
	_, err := c.db.ExecContext(ctx, `INSERT OR REPLACE INTO `+textTable+` (key, ruleset, created, matches) VALUES (?, ?, ?, ?)`,
		key, ruleset, time.Now().Unix(), matches)
	if err != nil {
		return fmt.Errorf("write scan cache %s: %w", c.path, err)
	}
	return nil
}
