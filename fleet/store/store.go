package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Dialects returned by Store.Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ErrBadDSN: the database address is neither a SQLite path nor a
// postgres:// URL.
var ErrBadDSN = errors.New("store: unsupported database address (use a file path, sqlite:///path or postgres://...)")

// Store is the findings store. It is safe for concurrent use; several Stores
// (in several processes) may share one database.
type Store struct {
	dialect string
	db      *sql.DB       // the store's own queries
	river   *sql.DB       // SQLite: River's pool of one connection
	pool    *pgxpool.Pool // Postgres: shared by the store and River
	log     *slog.Logger
	path    string // SQLite file
}

// Open opens (creating if needed) the store at dsn and applies strata's and
// River's migrations. dsn "" is the SQLite file strata.db under the user's
// data directory ($XDG_DATA_HOME/strata, else ~/.local/share/strata);
// "sqlite:///abs/path.db", "sqlite:rel/path.db" or a plain path is a SQLite
// file; "postgres://..." or "postgresql://..." is a Postgres database (its
// pool holds DefaultPostgresConns unless the URL sets pool_max_conns).
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err = openPostgres(ctx, dsn, log)
	default:
		path, perr := sqlitePath(dsn)
		if perr != nil {
			return nil, perr
		}
		s, err = openSQLite(ctx, path, log)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DefaultPath is the SQLite file used when no database is given:
// $XDG_DATA_HOME/strata/strata.db, else ~/.local/share/strata/strata.db.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("store: no data directory for the default database (set XDG_DATA_HOME or HOME, or give a database address): %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "strata", "strata.db"), nil
}

func sqlitePath(dsn string) (string, error) {
	switch {
	case dsn == "":
		return DefaultPath()
	case strings.HasPrefix(dsn, "sqlite://"):
		u, err := url.Parse(dsn)
		if err != nil || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			return "", fmt.Errorf("%w: %q: want sqlite:///absolute/path.db", ErrBadDSN, dsn)
		}
		return u.Path, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		if p := strings.TrimPrefix(dsn, "sqlite:"); p != "" {
			return p, nil
		}
	case strings.Contains(dsn, "://"):
	case strings.Contains(dsn, "dbname=") || strings.Contains(dsn, "host="):
		// A libpq key=value string: taking it for a file name would
		// create a stray database file.
		return "", fmt.Errorf("%w: %q looks like Postgres key=value settings: give a postgres:// URL", ErrBadDSN, dsn)
	default:
		return dsn, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadDSN, dsn)
}

// Close releases the store's connections.
func (s *Store) Close() error {
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.river != nil {
		errs = append(errs, s.river.Close())
	}
	if s.pool != nil {
		s.pool.Close()
	}
	return errors.Join(errs...)
}

// Dialect is SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// SQLDB is the database/sql handle for River's riversqlite driver on SQLite:
// a pool of ONE open connection, as riversqlite asks, on the same file as
// the store's own pool (both begin transactions IMMEDIATE and wait on a busy
// timeout, so they take turns instead of failing). On Postgres it is the
// store's database/sql view of PgxPool.
func (s *Store) SQLDB() *sql.DB {
	if s.river != nil {
		return s.river
	}
	return s.db
}

// PgxPool is the Postgres pool for River's riverpgxv5 driver; nil on SQLite.
func (s *Store) PgxPool() *pgxpool.Pool { return s.pool }

// Path is the SQLite file ("" on Postgres).
func (s *Store) Path() string { return s.path }

// Ping checks that the database answers (for readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: database not reachable: %w", err)
	}
	return nil
}

// ErrNotReady: the database answers but its schema is not this strata's.
var ErrNotReady = errors.New("store: database schema not migrated to this strata's version")

// Ready checks that the database answers and holds this strata's schema
// version (for /readyz).
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	v, err := s.Version(ctx)
	if err != nil {
		return err
	}
	if v != SchemaVersion() {
		return fmt.Errorf("%w: database at %d, want %d", ErrNotReady, v, SchemaVersion())
	}
	return nil
}

func openSQLite(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create the database directory: %w", err)
	}
	open := func(conns int) (*sql.DB, error) {
		db, err := sql.Open("sqlite", sqliteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		db.SetMaxOpenConns(conns)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		return db, nil
	}
	// One connection first so that WAL mode is set before a second opens.
	river, err := open(1)
	if err != nil {
		return nil, err
	}
	db, err := open(4)
	if err != nil {
		river.Close()
		return nil, err
	}
	return &Store{dialect: SQLite, db: db, river: river, log: log, path: path}, nil
}

// sqliteDSN: WAL so readers never block the writer; a busy timeout so
// writers from several pools or processes wait their turn; foreign keys on;
// IMMEDIATE transactions so a transaction takes the write lock when it
// begins and a busy writer is waited for, never failed mid-transaction.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// DefaultPostgresConns is the Postgres pool size when the address sets no
// pool_max_conns.
const DefaultPostgresConns = 20

func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDSN, err)
	}
	// River's client holds connections of its own (a listener, producers,
	// the leader's maintenance) beside its workers and the store's queries:
	// pgxpool's default of max(4, CPUs) starves it. The DSN's
	// pool_max_conns still wins.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultPostgresConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{dialect: Postgres, db: stdlib.OpenDBFromPool(pool), pool: pool, log: log}, nil
}
