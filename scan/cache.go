package scan

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// Cache keeps per-layer scan results in an SQLite database, keyed by the
// layer's diff_id (or blob digest when the diff_id is unknown) and the
// engine's RulesetHash. It stores redacted matches, fingerprints, the
// layer's path listing (for deleted/overwritten states) and coverage
// figures — never secret values. Safe for concurrent use, also by several
// processes (WAL mode, busy timeout).
type Cache struct {
	db   *sql.DB
	path string
}

// cacheSchema is bumped when layerResult's encoding changes.
const cacheSchema = 1

// DefaultCacheDir is os.UserCacheDir()/strata.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory (set --cache-dir or $XDG_CACHE_HOME): %w", err)
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
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS layer_results (
		layer    TEXT NOT NULL,
		ruleset  TEXT NOT NULL,
		schema   INTEGER NOT NULL,
		created  INTEGER NOT NULL,
		result   BLOB NOT NULL,
		PRIMARY KEY (layer, ruleset, schema))`)
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

// get returns the cached result for a layer, or nil.
func (c *Cache) get(ctx context.Context, layer, ruleset string) (*layerResult, error) {
	var blob []byte
	err := c.db.QueryRowContext(ctx, `SELECT result FROM layer_results WHERE layer = ? AND ruleset = ? AND schema = ?`,
		layer, ruleset, cacheSchema).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read scan cache: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, nil // unreadable entry: treat as a miss, it will be overwritten
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, nil
	}
	var lr layerResult
	if err := json.Unmarshal(raw, &lr); err != nil {
		return nil, nil
	}
	lr.FromCache = true
	return &lr, nil
}

// put stores a layer result, without secret values.
func (c *Cache) put(ctx context.Context, layer, ruleset string, lr *layerResult) error {
	clean := *lr
	clean.Matches = make([]fileMatch, len(lr.Matches))
	for i, m := range lr.Matches {
		m.Match.Secret = "" // never persisted
		clean.Matches[i] = m
	}
	raw, err := json.Marshal(&clean)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	_, err = c.db.ExecContext(ctx, `INSERT OR REPLACE INTO layer_results (layer, ruleset, schema, created, result) VALUES (?, ?, ?, ?, ?)`,
		layer, ruleset, cacheSchema, time.Now().Unix(), b.Bytes())
	if err != nil {
		return fmt.Errorf("write scan cache: %w", err)
	}
	return nil
}
