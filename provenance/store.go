package provenance

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/stratascan/strata/image"
)

// DefaultPath returns where the approved-base store lives when no --bases
// path is given:
//
//   - $STRATA_BASES, when set;
//   - on Linux and other Unix systems, $XDG_DATA_HOME/strata/bases.db, or
//     $HOME/.local/share/strata/bases.db when XDG_DATA_HOME is unset (the
//     XDG base-directory data dir: the store is data, not configuration);
//   - on macOS and Windows, os.UserConfigDir()/strata/bases.db
//     (~/Library/Application Support, %AppData%).
func DefaultPath() (string, error) {
	if p := os.Getenv("STRATA_BASES"); p != "" {
		return p, nil
	}
	if runtime.GOOS != "darwin" && runtime.GOOS != "windows" && runtime.GOOS != "ios" && runtime.GOOS != "plan9" {
		if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
			return filepath.Join(x, "strata", "bases.db"), nil
		}
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, ".local", "share", "strata", "bases.db"), nil
		}
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("%w (%v): name the store's path explicitly", ErrNoDefaultPath, err)
	}
	return filepath.Join(d, "strata", "bases.db"), nil
}

// Store is the approved-base store: an embedded SQLite database
// (modernc.org/sqlite, no cgo). It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
}

const schemaVersion = 1

const schemaSQL = `
CREATE TABLE IF NOT EXISTS bases (
	name         TEXT NOT NULL,
	digest       TEXT NOT NULL,
	reference    TEXT NOT NULL,
	index_digest TEXT NOT NULL DEFAULT '',
	media_type   TEXT NOT NULL DEFAULT '',
	platform     TEXT NOT NULL DEFAULT '',
	diff_ids     TEXT NOT NULL,
	chain_ids    TEXT NOT NULL,
	layers       TEXT NOT NULL,
	top_chain_id TEXT NOT NULL,
	created      TEXT NOT NULL DEFAULT '',
	added        TEXT NOT NULL,
	PRIMARY KEY (name, digest)
);
CREATE INDEX IF NOT EXISTS bases_top_chain ON bases(top_chain_id);
CREATE INDEX IF NOT EXISTS bases_digest ON bases(digest);
`

// Open opens (creating if needed, with its directory) the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open base store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open base store: %w", err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open base store %s: %w", path, err)
	}
	if err := checkVersion(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise base store %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise base store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

const upsertSQL = `
INSERT INTO bases (name, digest, reference, index_digest, media_type, platform, diff_ids, chain_ids, layers, top_chain_id, created, added)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(name, digest) DO UPDATE SET
	reference = excluded.reference, index_digest = excluded.index_digest, media_type = excluded.media_type,
	platform = excluded.platform, diff_ids = excluded.diff_ids, chain_ids = excluded.chain_ids,
	layers = excluded.layers, top_chain_id = excluded.top_chain_id, created = excluded.created`

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Add records bases, validating each. A base already present under the same
// name and digest is updated but keeps its added time. It returns how many
// were new.
func (s *Store) Add(ctx context.Context, bases ...Base) (added int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("add bases: %w", err)
	}
	defer tx.Rollback()
	for i := range bases {
		n, err := upsert(ctx, tx, &bases[i])
		if err != nil {
			return 0, err
		}
		added += n
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add bases: %w", err)
	}
	return added, nil
}

func upsert(ctx context.Context, x execer, b *Base) (int, error) {
	if err := b.Validate(); err != nil {
		return 0, err
	}
	var exists int
	if err := x.QueryRowContext(ctx, "SELECT COUNT(*) FROM bases WHERE name = ? AND digest = ?", b.Name, string(b.Digest)).Scan(&exists); err != nil {
		return 0, fmt.Errorf("add base %q: %w", b.Name, err)
	}
	cr := ""
	if b.Created != nil {
		cr = b.Created.UTC().Format(time.RFC3339Nano)
	}
	_, err := x.ExecContext(ctx, upsertSQL, b.Name, string(b.Digest), b.Reference, string(b.Index), b.MediaType, b.Platform,
		jsonList(b.DiffIDs), jsonList(b.ChainIDs), jsonList(b.Layers), string(b.TopChainID()), cr, b.Added.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, fmt.Errorf("add base %q (%s): %w", b.Name, b.Digest, err)
	}
	if exists > 0 {
		return 0, nil
	}
	return 1, nil
}

func jsonList(ds []image.Digest) string {
	if ds == nil {
		ds = []image.Digest{}
	}
	b, _ := json.Marshal(ds)
	return string(b)
}

// List returns every base, sorted by name, platform and age (oldest first).
func (s *Store) List(ctx context.Context) ([]Base, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, digest, reference, index_digest, media_type, platform, diff_ids, chain_ids, layers, created, added FROM bases`)
	if err != nil {
		return nil, fmt.Errorf("list bases in %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Base
	for rows.Next() {
		var b Base
		var digest, index, diffs, chains, layers, cr, added string
		if err := rows.Scan(&b.Name, &digest, &b.Reference, &index, &b.MediaType, &b.Platform, &diffs, &chains, &layers, &cr, &added); err != nil {
			return nil, fmt.Errorf("list bases in %s: %w", s.path, err)
		}
		b.Digest, b.Index = image.Digest(digest), image.Digest(index)
		if err := errors.Join(json.Unmarshal([]byte(diffs), &b.DiffIDs), json.Unmarshal([]byte(chains), &b.ChainIDs), json.Unmarshal([]byte(layers), &b.Layers)); err != nil {
			return nil, fmt.Errorf("base store %s: record %q %s is corrupt: %w", s.path, b.Name, digest, err)
		}
		if cr != "" {
			t, err := time.Parse(time.RFC3339Nano, cr)
			if err != nil {
				return nil, fmt.Errorf("base store %s: record %q %s: created: %w", s.path, b.Name, digest, err)
			}
			b.Created = &t
		}
		t, err := time.Parse(time.RFC3339Nano, added)
		if err != nil {
			return nil, fmt.Errorf("base store %s: record %q %s: added: %w", s.path, b.Name, digest, err)
		}
		b.Added = t
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list bases in %s: %w", s.path, err)
	}
	SortBases(out)
	return out, nil
}

// Remove deletes the bases matching each selector: a name, a reference, a
// manifest digest (or a unique prefix of its hex of at least 12 characters),
// or name@digest. It returns the removed bases; a selector matching nothing
// is an error wrapping ErrNotFound (nothing is removed then).
func (s *Store) Remove(ctx context.Context, selectors ...string) ([]Base, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var del []Base
	seen := map[string]bool{}
	for _, sel := range selectors {
		n := 0
		for _, b := range all {
			if !selects(sel, &b) {
				continue
			}
			n++
			if k := b.Name + "@" + string(b.Digest); !seen[k] {
				seen[k] = true
				del = append(del, b)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %q is not a name, reference or digest in %s (see `strata base list`)", ErrNotFound, sel, s.path)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("remove bases: %w", err)
	}
	defer tx.Rollback()
	for _, b := range del {
		if _, err := tx.ExecContext(ctx, "DELETE FROM bases WHERE name = ? AND digest = ?", b.Name, string(b.Digest)); err != nil {
			return nil, fmt.Errorf("remove base %q %s: %w", b.Name, b.Digest, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("remove bases: %w", err)
	}
	return del, nil
}

func selects(sel string, b *Base) bool {
	if name, dg, ok := strings.Cut(sel, "@"); ok && strings.Contains(dg, ":") && b.Name == name && string(b.Digest) == dg {
		return true
	}
	if sel == b.Name || sel == b.Reference || sel == string(b.Digest) || sel == string(b.Index) {
		return true
	}
	h := strings.TrimPrefix(sel, "sha256:")
	return len(h) >= 12 && strings.HasPrefix(b.Digest.Hex(), h)
}

// ExportVersion is the version of the JSON document [Store.Export] writes.
const ExportVersion = 1

// Document is the JSON form of the store.
type Document struct {
	Version int    `json:"version"`
	Bases   []Base `json:"bases"`
}

// Export writes every base as indented JSON, sorted (name, platform, oldest
// first) and without timestamps of its own, so exporting an unchanged store
// gives identical bytes: suitable to keep in git as policy.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	bs, err := s.List(ctx)
	if err != nil {
		return err
	}
	return WriteDocument(w, bs)
}

// WriteDocument writes bases in the export format.
func WriteDocument(w io.Writer, bs []Base) error {
	if bs == nil {
		bs = []Base{}
	}
	bs = append(make([]Base, 0, len(bs)), bs...)
	for i := range bs {
		bs[i].Added = bs[i].Added.UTC()
		if bs[i].Created != nil {
			t := bs[i].Created.UTC()
			bs[i].Created = &t
		}
	}
	SortBases(bs)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(Document{Version: ExportVersion, Bases: bs})
}

// ReadDocument parses and validates an export document.
func ReadDocument(r io.Reader) ([]Base, error) {
	dec := json.NewDecoder(io.LimitReader(r, 256<<20))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: base list is not a strata export document: %v", ErrInvalidBase, err)
	}
	if doc.Version != ExportVersion {
		return nil, fmt.Errorf("%w: base list has version %d, this strata reads version %d", ErrInvalidBase, doc.Version, ExportVersion)
	}
	for i := range doc.Bases {
		if err := doc.Bases[i].Validate(); err != nil {
			return nil, fmt.Errorf("base list entry %d: %w", i, err)
		}
	}
	return doc.Bases, nil
}

// ImportOptions tune [Store.Import].
type ImportOptions struct {
	// Replace makes the store hold exactly the document's bases (others are
	// deleted); otherwise the document is merged in.
	Replace bool
}

// Import reads an export document and stores its bases (keeping the added
// times it lists), all or nothing. It returns how many bases were new.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (int, error) {
	bs, err := ReadDocument(r)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("import bases: %w", err)
	}
	defer tx.Rollback()
	if opts.Replace {
		if _, err := tx.ExecContext(ctx, "DELETE FROM bases"); err != nil {
			return 0, fmt.Errorf("import bases: %w", err)
		}
	}
	n := 0
	for i := range bs {
		k, err := upsert(ctx, tx, &bs[i])
		if err != nil {
			return 0, err
		}
		if k == 0 {
			// keep the document's added time on merge too
			if _, err := tx.ExecContext(ctx, "UPDATE bases SET added = ? WHERE name = ? AND digest = ?", bs[i].Added.UTC().Format(time.RFC3339Nano), bs[i].Name, string(bs[i].Digest)); err != nil {
				return 0, fmt.Errorf("import base %q: %w", bs[i].Name, err)
			}
		}
		n += k
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("import bases: %w", err)
	}
	return n, nil
}

// Index loads every base into an [Index].
func (s *Store) Index(ctx context.Context) (*Index, error) {
	bs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return NewIndex(bs), nil
}

// checkVersion refuses a file that is not a readable SQLite database or
// whose schema is newer than this strata understands.
func checkVersion(ctx context.Context, db *sql.DB, path string) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("open base store %s: not a readable SQLite database: %w", path, err)
	}
	if v > schemaVersion {
		return fmt.Errorf("base store %s has schema version %d; this strata understands up to %d: upgrade strata", path, v, schemaVersion)
	}
	return nil
}
