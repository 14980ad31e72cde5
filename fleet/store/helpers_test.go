package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/internal/pgtest"
	"github.com/stratascan/strata/overlay"
	"github.com/stratascan/strata/scan"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend opens stores on one database of a dialect.
type backend struct {
	name string
	// dsn makes a fresh database and returns its address.
	dsn func(t testing.TB) string
}

// backends are the dialects every store test runs on: a SQLite file in a
// temporary directory and a fresh database on a real Postgres server.
var backends = []backend{
	{SQLite, func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "strata.db") }},
	{Postgres, func(t testing.TB) string { return pgtest.Start(t).DSN() }},
}

// forEach runs fn as a subtest per dialect with a fresh store.
func forEach(t *testing.T, fn func(t *testing.T, s *Store, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s := open(t, dsn)
			if s.Dialect() != b.name {
				t.Fatalf("dialect %s, want %s", s.Dialect(), b.name)
			}
			fn(t, s, dsn)
		})
	}
}

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func digest(s string) image.Digest { return image.FromBytes([]byte(s)) }

func rec(registry, repo, manifest string, tags ...string) ImageRecord {
	return ImageRecord{
		Registry: registry, Repository: repo, Tags: tags, Manifest: digest(manifest), Platform: "linux/amd64",
		Ruleset: "rs1",
		Layers: []LayerRef{
			{Index: 0, Digest: digest("base"), DiffID: digest("base-diff"), Size: 100, CreatedBy: "ADD rootfs.tar /"},
			{Index: 1, Digest: digest("app-" + manifest), DiffID: digest("app-diff-" + manifest), Size: 10, CreatedBy: "COPY app /app"},
		},
	}
}

// finding is a layer finding of the secret named by secret (its value is
// set, as with --show-secrets, to prove the store never keeps it).
func finding(secret, rule, severity, path string, layer int) scan.Finding {
	return scan.Finding{
		Rule: rule, Description: rule + " found", Severity: severity, Kind: image.KindImage,
		Layer: &layer, LayerDigest: digest(fmt.Sprint("layer", layer)), Path: path, Line: 3,
		State: overlay.Present, Redacted: secret[:4] + "…", Fingerprint: fingerprint(secret),
		Confidence: "format", Secret: secret,
	}
}

func fingerprint(secret string) string { return string(digest(secret)) }

func mustRecord(t *testing.T, s *Store, r ImageRecord, fs []scan.Finding, at time.Time) {
	t.Helper()
	if err := s.RecordImage(context.Background(), r, fs, at); err != nil {
		t.Fatal(err)
	}
}

func mustFindings(t *testing.T, s *Store, f Filter) []FindingRow {
	t.Helper()
	rows, err := s.Findings(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
