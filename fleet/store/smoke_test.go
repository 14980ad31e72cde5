package store

import (
	"context"
	"path/filepath"
	"testing"
)

func TestOpenSQLiteSmoke(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a b", "strata.db")
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, "sqlite://"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Version(ctx)
		if err != nil || v != SchemaVersion() {
			t.Fatalf("version %d, %v", v, err)
		}
		var n int
		if err := s.SQLDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatalf("river tables: %v", err)
		}
		var mode string
		s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal mode %q", mode)
		}
		s.Close()
	}
}
