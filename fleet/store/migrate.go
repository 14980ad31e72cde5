package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// ErrSchemaTooNew: the database was migrated by a newer strata than this
// binary knows.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this strata (upgrade strata, or use another database)")

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations of a dialect in version order;
// each file is named NNNN_what.sql.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: bad migration file name %s", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations of %s are not numbered 1..n (%s)", dialect, m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest strata schema version this binary applies.
func SchemaVersion() int {
	ms, _ := migrations(SQLite)
	return len(ms)
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.migrateStrata(ctx, 0); err != nil {
		return err
	}
	return s.migrateRiver(ctx)
}

// migrateStrata applies the missing migrations, up to version upTo (0:
// all), in one transaction. On Postgres a transaction-scoped advisory lock
// serialises concurrent Opens; SQLite's IMMEDIATE transaction does the
// same.
func (s *Store) migrateStrata(ctx context.Context, upTo int) error {
	ms, err := migrations(s.dialect)
	if err != nil {
		return err
	}
	known := len(ms)
	if upTo > 0 && upTo < len(ms) {
		ms = ms[:upTo]
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7432013)`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have > known {
			return fmt.Errorf("%w: database at version %d, this strata knows up to %d", ErrSchemaTooNew, have, known)
		}
		if have >= len(ms) {
			return nil
		}
		for _, m := range ms[have:] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, nowNano()); err != nil {
				return err
			}
			s.log.Info("store: applied migration", "dialect", s.dialect, "version", m.version, "name", m.name)
		}
		return nil
	})
}

// Version is the strata schema version recorded in the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: read the schema version: %w", err)
	}
	return v, nil
}

// migrateRiver applies River's own migrations with the driver River uses on
// this dialect.
func (s *Store) migrateRiver(ctx context.Context) error {
	var (
		res *rivermigrate.MigrateResult
		err error
	)
	cfg := &rivermigrate.Config{Logger: s.log}
	switch s.dialect {
	case Postgres:
		// River's migrator takes no lock of its own: serialise concurrent
		// Opens with a session advisory lock held on one connection.
		conn, cerr := s.pool.Acquire(ctx)
		if cerr != nil {
			return fmt.Errorf("store: river migrations: %w", cerr)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7432014)`); err != nil {
			return fmt.Errorf("store: river migrations: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7432014)`) //nolint:errcheck // released with the session anyway
		m, merr := rivermigrate.New(riverpgxv5.New(s.pool), cfg)
		if merr != nil {
			return fmt.Errorf("store: river migrations: %w", merr)
		}
		res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	default:
		m, merr := rivermigrate.New(riversqlite.New(s.river), cfg)
		if merr != nil {
			return fmt.Errorf("store: river migrations: %w", merr)
		}
		res, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		return fmt.Errorf("store: river migrations (%s): %w", s.dialect, err)
	}
	for _, v := range res.Versions {
		s.log.Info("store: applied river migration", "dialect", s.dialect, "version", v.Version, "name", v.Name)
	}
	return nil
}
