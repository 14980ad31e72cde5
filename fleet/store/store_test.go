package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
)

// TestMigrations: Open is idempotent (the schema version stays the
// binary's, each migration recorded once, River's tables present), and a
// database at a version newer than the binary is refused.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		s2 := open(t, dsn)
		for _, st := range []*Store{s, s2} {
			v, err := st.Version(ctx)
			if err != nil || v != SchemaVersion() || v < 1 {
				t.Fatalf("version %d (%v), want %d", v, err, SchemaVersion())
			}
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != SchemaVersion() {
			t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, SchemaVersion())
		}
		if err := s.Ready(ctx); err != nil {
			t.Errorf("Ready: %v", err)
		}
		if s.Dialect() == Postgres && (s.PgxPool() == nil || s.PgxPool().Config().MaxConns != DefaultPostgresConns) {
			t.Errorf("Postgres pool %v", s.PgxPool())
		}
		if err := s.SQLDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
			t.Fatalf("River's tables missing: %v", err)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(ctx); !errors.Is(err, ErrNotReady) {
			t.Errorf("Ready on a newer database: %v", err)
		}
		_, err := Open(ctx, dsn, nil)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("Open of a newer database: %v, want ErrSchemaTooNew", err)
		}
	})
}

// TestUpgrade: a database at schema version 1 is brought to the newest
// version by Open, its data kept.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			old := openAt(t, dsn, 1)
			if v, err := old.Version(ctx); v != 1 || err != nil {
				t.Fatalf("version %d (%v), want 1", v, err)
			}
			mustRecord(t, old, rec("a.example", "web", "m1", "v1"), []scan.Finding{finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1)}, t0)
			s := open(t, dsn)
			if v, err := s.Version(ctx); v != SchemaVersion() || err != nil {
				t.Fatalf("version %d (%v), want %d", v, err, SchemaVersion())
			}
			if rows := mustFindings(t, s, Filter{}); len(rows) != 1 {
				t.Errorf("%d findings after the upgrade, want 1", len(rows))
			}
			q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'findings_last_seen'`
			if s.Dialect() == Postgres {
				q = `SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'findings_last_seen'`
			}
			var n int
			if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 1 {
				t.Errorf("version 2's index: %d (%v)", n, err)
			}
		})
	}
}

// openAt opens a store migrated only up to version v (as an older strata
// would leave it).
func openAt(t *testing.T, dsn string, v int) *Store {
	t.Helper()
	ctx := context.Background()
	var (
		s   *Store
		err error
	)
	if strings.HasPrefix(dsn, "postgres://") {
		s, err = openPostgres(ctx, dsn, discard)
	} else {
		path, perr := sqlitePath(dsn)
		if perr != nil {
			t.Fatal(perr)
		}
		s, err = openSQLite(ctx, path, discard)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrateStrata(ctx, v); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSQLiteSettings: WAL, foreign keys, River's pool of one connection.
func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "dir with space", "s.db"))
	var mode string
	var fk int
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d (%v), want 1", fk, err)
	}
	if got := s.SQLDB().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("River's pool allows %d connections, want 1", got)
	}
	if s.PgxPool() != nil {
		t.Error("PgxPool on SQLite is not nil")
	}
}

func TestSQLitePath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data/home")
	for _, c := range []struct {
		dsn, want string
		bad       bool
	}{
		{"", "/data/home/strata/strata.db", false},
		{"sqlite:///var/lib/strata.db", "/var/lib/strata.db", false},
		{"sqlite://localhost/var/lib/strata.db", "/var/lib/strata.db", false},
		{"rel/strata.db", "rel/strata.db", false},
		{"sqlite://host/x.db", "", true},
		{"sqlite:rel.db", "rel.db", false},
		{"sqlite:", "", true},
		{"host=db dbname=strata", "", true},
		{"mysql://x/y", "", true},
	} {
		got, err := sqlitePath(c.dsn)
		if c.bad {
			if !errors.Is(err, ErrBadDSN) {
				t.Errorf("%q: %v, want ErrBadDSN", c.dsn, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.dsn, got, err, c.want)
		}
	}
}

// TestRecordTwice: recording an image again keeps first_seen, moves
// last_seen, updates rather than duplicates; a finding the new scan no
// longer reports is resolved.
func TestRecordTwice(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		r := rec("reg.example", "team/app", "m1", "v1")
		a, b := finding("AKIAAAAAAAAAAAAAAAAA", "aws-access-token", "high", "/etc/aws", 1),
			finding("ghp_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "github-pat", "high", "/root/.git-credentials", 1)
		mustRecord(t, s, r, []scan.Finding{a, b}, t0)
		mustRecord(t, s, r, []scan.Finding{a}, t0.Add(time.Hour))
		rows := mustFindings(t, s, Filter{})
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2", len(rows))
		}
		for _, row := range rows {
			if !row.FirstSeen.Equal(t0) {
				t.Errorf("%s: first seen %v, want %v", row.Rule, row.FirstSeen, t0)
			}
			switch row.Rule {
			case a.Rule:
				if !row.LastSeen.Equal(t0.Add(time.Hour)) || !row.Open() {
					t.Errorf("still reported: last seen %v open %v", row.LastSeen, row.Open())
				}
				if row.Layer == nil || *row.Layer != 1 || row.Path != a.Path || row.Redacted != a.Redacted || len(row.Tags) != 1 || row.Tags[0] != "v1" {
					t.Errorf("row %+v", row)
				}
			case b.Rule:
				if row.Open() || !row.ResolvedAt.Equal(t0.Add(time.Hour)) || !row.LastSeen.Equal(t0) {
					t.Errorf("no longer reported: resolved %v last seen %v", row.ResolvedAt, row.LastSeen)
				}
			}
		}
		// An older record arriving late does not move last_seen back.
		mustRecord(t, s, r, []scan.Finding{a}, t0.Add(time.Minute))
		rows = mustFindings(t, s, Filter{Rule: a.Rule})
		if len(rows) != 1 || !rows[0].LastSeen.Equal(t0.Add(time.Hour)) {
			t.Errorf("late record moved last_seen: %+v", rows)
		}
		if err := s.RecordImage(ctx, ImageRecord{Registry: "r"}, nil, t0); !errors.Is(err, ErrBadRecord) {
			t.Errorf("incomplete record: %v", err)
		}
	})
}

// TestSyncTags: a finding resolves when the last tag referencing its
// manifest goes (or moves elsewhere), and reopens when a tag points at it
// again; first_seen is kept throughout.
func TestSyncTags(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		r := rec("reg.example", "app", "m1", "latest", "v1")
		mustRecord(t, s, r, []scan.Finding{finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1)}, t0)
		other := digest("m2")
		steps := []struct {
			tags  map[string]image.Digest
			open  bool
			tags2 []string
		}{
			{map[string]image.Digest{"latest": r.Manifest, "v1": r.Manifest}, true, []string{"latest", "v1"}},
			{map[string]image.Digest{"v1": r.Manifest, "v2": other}, true, []string{"v1"}},
			{map[string]image.Digest{"latest": other, "v2": other}, false, nil},
			{map[string]image.Digest{}, false, nil},
			{map[string]image.Digest{"v1": r.Manifest}, true, []string{"v1"}},
		}
		for i, st := range steps {
			at := t0.Add(time.Duration(i+1) * time.Hour)
			if err := s.SyncTags(ctx, "reg.example", "app", st.tags, at); err != nil {
				t.Fatal(err)
			}
			rows := mustFindings(t, s, Filter{})
			if len(rows) != 1 {
				t.Fatalf("step %d: %d rows", i, len(rows))
			}
			row := rows[0]
			if row.Open() != st.open || !row.FirstSeen.Equal(t0) {
				t.Errorf("step %d: open %v (want %v), first seen %v", i, row.Open(), st.open, row.FirstSeen)
			}
			if !st.open && row.ResolvedAt.Before(t0.Add(3*time.Hour)) {
				t.Errorf("step %d: resolved at %v", i, row.ResolvedAt)
			}
			if len(row.Tags) != len(st.tags2) || (len(st.tags2) > 0 && row.Tags[0] != st.tags2[0]) {
				t.Errorf("step %d: tags %v, want %v", i, row.Tags, st.tags2)
			}
		}
	})
}

// TestIndexRoot: a platform manifest of an index is open while a tag
// references the index.
func TestIndexRoot(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		r := rec("reg.example", "multi", "arm64-manifest", "latest")
		r.Root = digest("index")
		mustRecord(t, s, r, []scan.Finding{finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1)}, t0)
		if rows := mustFindings(t, s, Filter{Status: StatusOpen}); len(rows) != 1 || len(rows[0].Tags) != 1 {
			t.Fatalf("open rows %+v", rows)
		}
		if err := s.SyncTags(ctx, "reg.example", "multi", map[string]image.Digest{"latest": digest("index2")}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if rows := mustFindings(t, s, Filter{Status: StatusOpen}); len(rows) != 0 {
			t.Fatalf("index untagged, still open: %+v", rows)
		}
	})
}

// TestFingerprint: one secret in two registries and three repositories is
// found everywhere, open ones first.
func TestFingerprint(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		secret := "AKIASHAREDSHAREDSHAR"
		f := finding(secret, "aws", "high", "/etc/aws", 1)
		mustRecord(t, s, rec("a.example", "one", "m1", "v1"), []scan.Finding{f}, t0)
		mustRecord(t, s, rec("a.example", "two", "m2", "v1"), []scan.Finding{f}, t0)
		mustRecord(t, s, rec("b.example:5000", "one", "m1", "v1"), []scan.Finding{f}, t0)
		mustRecord(t, s, rec("b.example:5000", "other", "m3", "v1"), []scan.Finding{finding("AKIAOTHEROTHEROTHERO", "aws", "high", "/x", 1)}, t0)
		if err := s.SyncTags(ctx, "a.example", "two", nil, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if repos, err := s.Repositories(ctx, "b.example:5000"); err != nil || strings.Join(repos, ",") != "one,other" {
			t.Errorf("repositories of b.example:5000: %v %v", repos, err)
		}
		rows, err := s.Fingerprint(ctx, fingerprint(secret))
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			reg, repo string
			open      bool
		}{
			{"a.example", "one", true}, {"b.example:5000", "one", true}, {"a.example", "two", false},
		}
		if len(rows) != len(want) {
			t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
		}
		for i, w := range want {
			if rows[i].Registry != w.reg || rows[i].Repository != w.repo || rows[i].Open() != w.open {
				t.Errorf("row %d: %s/%s open %v, want %+v", i, rows[i].Registry, rows[i].Repository, rows[i].Open(), w)
			}
		}
	})
}

// TestFilters: every filter field narrows the list; paging pages; a bad
// status is refused.
func TestFilters(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		hi := finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1)
		lo := finding("xoxb-lowlowlowlowlow", "slack", "low", "/b", 0)
		lo.State = "deleted"
		mustRecord(t, s, rec("a.example", "one", "m1", "v1"), []scan.Finding{hi, lo}, t0)
		mustRecord(t, s, rec("b.example", "two", "m2", "v1"), []scan.Finding{hi}, t0)
		mustRecord(t, s, rec("b.example", "three", "m3"), []scan.Finding{lo}, t0) // untagged: resolved
		for _, c := range []struct {
			name string
			f    Filter
			want int
		}{
			{"all", Filter{}, 4},
			{"registry", Filter{Registry: "b.example"}, 2},
			{"repository", Filter{Repository: "one"}, 2},
			{"registry+repository", Filter{Registry: "a.example", Repository: "two"}, 0},
			{"rule", Filter{Rule: "slack"}, 2},
			{"severity", Filter{Severity: "high"}, 2},
			{"state", Filter{State: "deleted"}, 2},
			{"fingerprint", Filter{Fingerprint: hi.Fingerprint}, 2},
			{"manifest", Filter{Manifest: digest("m2")}, 1},
			{"open", Filter{Status: StatusOpen}, 3},
			{"resolved", Filter{Status: StatusResolved}, 1},
			{"resolved slack", Filter{Status: StatusResolved, Rule: "slack", Repository: "three"}, 1},
			{"limit", Filter{Limit: 3}, 3},
			{"offset", Filter{Limit: 3, Offset: 3}, 1},
			{"past the end", Filter{Offset: 10}, 0},
		} {
			if got := len(mustFindings(t, s, c.f)); got != c.want {
				t.Errorf("%s: %d rows, want %d", c.name, got, c.want)
			}
		}
		if _, err := s.Findings(ctx, Filter{Status: "closed"}); !errors.Is(err, ErrBadFilter) {
			t.Errorf("bad status: %v", err)
		}
		if _, err := s.Findings(ctx, Filter{Offset: -1}); !errors.Is(err, ErrBadFilter) {
			t.Errorf("negative offset: %v", err)
		}
	})
}

// TestToken: one token is created, stored as its sha256 only; the plain
// token checks, anything else does not.
func TestToken(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		if ok, err := s.CheckToken(ctx, "strata_x"); ok || err != nil {
			t.Fatalf("check before any token: %v %v", ok, err)
		}
		// Several processes starting at once: exactly one creates it.
		stores := []*Store{s, open(t, dsn)}
		var (
			mu     sync.Mutex
			wg     sync.WaitGroup
			plains []string
		)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(st *Store) {
				defer wg.Done()
				p, created, err := st.EnsureToken(ctx)
				if err != nil || created != (p != "") {
					t.Errorf("EnsureToken: %q %v %v", p, created, err)
				}
				if created {
					mu.Lock()
					plains = append(plains, p)
					mu.Unlock()
				}
			}(stores[i%2])
		}
		wg.Wait()
		if len(plains) != 1 || len(plains[0]) < 40 || !strings.HasPrefix(plains[0], tokenPrefix) {
			t.Fatalf("tokens created: %q, want one", plains)
		}
		plain := plains[0]
		again, created2, err := open(t, dsn).EnsureToken(ctx)
		if err != nil || created2 || again != "" {
			t.Fatalf("EnsureToken after: %q %v %v", again, created2, err)
		}
		for _, c := range []struct {
			tok  string
			want bool
		}{{plain, true}, {plain + "x", false}, {plain[:len(plain)-1], false}, {"", false}, {hashToken(plain), false}} {
			if ok, err := s.CheckToken(ctx, c.tok); ok != c.want || err != nil {
				t.Errorf("CheckToken(%q) = %v, %v; want %v", c.tok, ok, err, c.want)
			}
		}
		var stored string
		if err := s.db.QueryRowContext(ctx, `SELECT sha256 FROM tokens`).Scan(&stored); err != nil || stored != hashToken(plain) || stored == plain {
			t.Errorf("stored %q (%v)", stored, err)
		}
	})
}

// TestRuleset: the last ruleset hash is kept.
func TestRuleset(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		if h, err := s.Ruleset(ctx); h != "" || err != nil {
			t.Fatalf("initial ruleset %q %v", h, err)
		}
		for _, h := range []string{"h1", "h2"} {
			if err := s.SetRuleset(ctx, h); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Ruleset(ctx); got != h || err != nil {
				t.Errorf("ruleset %q %v, want %q", got, err, h)
			}
		}
	})
}

var discard = slog.New(slog.DiscardHandler)

// TestManyFindings: findings and layers beyond one statement's batch, and
// the same finding listed twice, are all recorded once.
func TestManyFindings(t *testing.T) {
	const n = 2*findingBatch + 7
	forEach(t, func(t *testing.T, s *Store, _ string) {
		r := rec("a.example", "big", "m1", "v1")
		for i := 2; i < 1300; i++ {
			r.Layers = append(r.Layers, LayerRef{Index: i, Digest: digest(fmt.Sprint("l", i))})
		}
		var fs []scan.Finding
		for i := 0; i < n; i++ {
			fs = append(fs, finding(fmt.Sprintf("AKIA%016d", i), "aws", "high", fmt.Sprint("/f", i), i%5))
		}
		fs = append(fs, fs[3], fs[n-1])
		for round := 0; round < 2; round++ {
			mustRecord(t, s, r, fs, t0.Add(time.Duration(round)*time.Hour))
			got := len(mustFindings(t, s, Filter{Limit: MaxLimit})) + len(mustFindings(t, s, Filter{Limit: MaxLimit, Offset: MaxLimit}))
			if got != n {
				t.Errorf("round %d: %d findings, want %d", round, got, n)
			}
		}
		v, err := s.Image(context.Background(), "a.example", "big", r.Manifest)
		if err != nil || len(v.Layers) != 1300 || v.Layers[1299].Index != 1299 {
			t.Errorf("layers: %d (%v)", len(v.Layers), err)
		}
	})
}
