package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestStart: two databases on the shared server are distinct, writable and
// reachable by their DSN; the server runs with fsync off.
func TestStart(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a.Name == b.Name || a.server != b.server {
		t.Fatalf("want two databases on one server, got %s and %s", a.DSN(), b.DSN())
	}
	for i, db := range []*DB{a, b} {
		conn, err := pgx.Connect(ctx, db.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE TABLE t (n int)`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO t VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
		var fsync, name string
		if err := conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_database()`).Scan(&fsync, &name); err != nil {
			t.Fatal(err)
		}
		if fsync != "off" || name != db.Name {
			t.Errorf("fsync %s, database %s (want off, %s)", fsync, name, db.Name)
		}
	}
}

// TestDropOnCleanup: a test's database is gone when the test ends.
func TestDropOnCleanup(t *testing.T) {
	ctx := context.Background()
	var db *DB
	t.Run("inner", func(t *testing.T) { db = Start(t) })
	if t.Failed() {
		return
	}
	conn, err := pgx.Connect(ctx, db.server.dsn("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, db.Name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test", db.Name)
	}
}

// TestMissingPostgres: without postgres, Start fails the test when CI is
// set to a true value and skips it otherwise.
func TestMissingPostgres(t *testing.T) {
	old := binGlob
	t.Cleanup(func() { binGlob = old })
	binGlob = filepath.Join(t.TempDir(), "*", "bin")
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct {
		ci         string
		fail, skip bool
	}{{"true", true, false}, {"1", true, false}, {"", false, true}, {"false", false, true}} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		func() {
			defer func() { recover() }()
			Start(r)
		}()
		if r.failed != c.fail || r.skipped != c.skip {
			t.Errorf("CI=%q: failed %v skipped %v, want %v %v", c.ci, r.failed, r.skipped, c.fail, c.skip)
		}
	}
}

// recorder records Fatalf/Skipf instead of ending the real test.
type recorder struct {
	testing.TB
	failed, skipped bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic("fatal")
}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	panic("skip")
}
