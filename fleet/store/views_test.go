package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/scan"
)

// TestOverview: leaking repositories, new and resolved this week, totals.
func TestOverview(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		now := t0.Add(30 * 24 * time.Hour)
		old, recent := now.Add(-10*24*time.Hour), now.Add(-24*time.Hour)
		mustRecord(t, s, rec("a.example", "web", "m1", "v1"), []scan.Finding{
			finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1),
			finding("AKIABBBBBBBBBBBBBBBB", "aws", "high", "/b", 1),
		}, old)
		mustRecord(t, s, rec("a.example", "web", "m2", "v2"), []scan.Finding{finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "/a", 1)}, recent)
		mustRecord(t, s, rec("a.example", "api", "m3", "v1"), []scan.Finding{finding("xoxb-cccccccccccccccc", "slack", "medium", "/c", 0)}, recent)
		mustRecord(t, s, rec("b.example", "gone", "m4", "v1"), []scan.Finding{finding("xoxb-dddddddddddddddd", "slack", "low", "/d", 0)}, old)
		if err := s.SyncTags(ctx, "b.example", "gone", nil, recent); err != nil {
			t.Fatal(err)
		}
		o, err := s.Overview(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if o.Open != 4 || o.Resolved != 1 || o.NewThisWeek != 2 || o.ResolvedThisWeek != 1 {
			t.Errorf("open %d resolved %d new %d resolved this week %d; want 4 1 2 1", o.Open, o.Resolved, o.NewThisWeek, o.ResolvedThisWeek)
		}
		if o.OpenBySeverity["high"] != 3 || o.OpenBySeverity["medium"] != 1 || o.OpenBySeverity["low"] != 0 {
			t.Errorf("by severity %v", o.OpenBySeverity)
		}
		if o.Registries != 2 || o.Repositories != 3 || o.Images != 4 {
			t.Errorf("counts %d %d %d", o.Registries, o.Repositories, o.Images)
		}
		if len(o.Leaking) != 2 {
			t.Fatalf("leaking %+v", o.Leaking)
		}
		web := o.Leaking[0]
		if web.Repository != "web" || web.Images != 2 || web.Findings != 3 || web.Fingerprints != 2 || strings.Join(web.Tags, ",") != "v1,v2" {
			t.Errorf("web %+v", web)
		}
		if len(web.Manifests) != 2 || web.Manifests[0].Manifest != digest("m1") || web.Manifests[0].Findings != 2 ||
			strings.Join(web.Manifests[0].Tags, ",") != "v1" || web.Manifests[1].Platform != "linux/amd64" {
			t.Errorf("web manifests %+v", web.Manifests)
		}
		if o.Leaking[1].Repository != "api" || o.Leaking[1].Findings != 1 {
			t.Errorf("api %+v", o.Leaking[1])
		}
	})
}

// TestImage: layers in order with their build steps, tags, findings.
func TestImage(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		r := rec("a.example", "web", "m1", "v1", "latest")
		cfg := finding("AKIAAAAAAAAAAAAAAAAA", "aws", "high", "config:env", 0)
		cfg.Layer = nil
		mustRecord(t, s, r, []scan.Finding{finding("AKIABBBBBBBBBBBBBBBB", "aws", "high", "/b", 1), cfg}, t0)
		v, err := s.Image(ctx, "a.example", "web", r.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Layers) != 2 || v.Layers[1].CreatedBy != "COPY app /app" || v.Layers[0].Digest != r.Layers[0].Digest || v.Layers[0].Size != 100 || v.Layers[1].DiffID != r.Layers[1].DiffID {
			t.Errorf("layers %+v", v.Layers)
		}
		if strings.Join(v.Tags, ",") != "latest,v1" || v.Platform != "linux/amd64" || v.Ruleset != "rs1" || !v.ScannedAt.Equal(t0) || v.Root != r.Manifest {
			t.Errorf("view %+v", v)
		}
		if len(v.Findings) != 2 || v.Findings[0].Layer != nil || v.Findings[0].Path != "config:env" || *v.Findings[1].Layer != 1 {
			t.Errorf("findings %+v", v.Findings)
		}
		if _, err := s.Image(ctx, "a.example", "web", digest("nope")); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing image: %v", err)
		}
	})
}

// TestNoSecretStored: a finding carrying its secret value (as scans with
// KeepSecrets do) leaves no trace of the value in the database: the SQLite
// file's bytes (and its write-ahead log) on disk, every Postgres row.
func TestNoSecretStored(t *testing.T) {
	ctx := context.Background()
	secret := "AKIAZZSECRETVALUEZZ9"
	forEach(t, func(t *testing.T, s *Store, _ string) {
		f := finding(secret, "aws", "high", "/etc/aws", 1)
		mustRecord(t, s, rec("a.example", "web", "m1", "v1"), []scan.Finding{f}, t0)
		rows := mustFindings(t, s, Filter{})
		if len(rows) != 1 || rows[0].Redacted != f.Redacted || rows[0].Fingerprint != f.Fingerprint {
			t.Fatalf("rows %+v", rows)
		}
		var dump []byte
		if s.Dialect() == SQLite {
			path := s.Path()
			s.Close()
			for _, p := range []string{path, path + "-wal"} {
				b, err := os.ReadFile(p)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
			if !bytes.Contains(dump, []byte(f.Redacted)) || !bytes.Contains(dump, []byte(f.Fingerprint)) {
				t.Fatalf("the database files (%d bytes) do not hold the finding at all: the check proves nothing", len(dump))
			}
		} else {
			for _, table := range []string{"registries", "repositories", "tags", "manifests", "manifest_layers", "findings", "tokens", "meta"} {
				var b []byte
				if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(string_agg(t::text, E'\n'), '') FROM `+table+` t`).Scan(&b); err != nil {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
			if !bytes.Contains(dump, []byte(f.Fingerprint)) {
				t.Fatal("the dump does not hold the finding at all")
			}
		}
		if bytes.Contains(dump, []byte(secret)) {
			t.Errorf("the secret value is in the %s database", s.Dialect())
		}
	})
}
