package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/scan"
)

// RecordImage records one scanned image manifest: its registry, repository,
// layers and tags (rec.Tags are set to reference rec.Root), and its
// findings. A finding is keyed by (manifest, fingerprint, rule, location):
// recording it again keeps first_seen and moves last_seen; a finding the
// manifest's scan no longer reports is resolved. Then every finding of the
// repository is resolved or reopened by the tag rule. Secret values
// (scan.Finding.Secret) are never stored.
func (s *Store) RecordImage(ctx context.Context, rec ImageRecord, findings []scan.Finding, at time.Time) error {
	if rec.Registry == "" || rec.Repository == "" || rec.Manifest == "" {
		return fmt.Errorf("%w: registry %q, repository %q, manifest %q", ErrBadRecord, rec.Registry, rec.Repository, rec.Manifest)
	}
	if rec.Root == "" {
		rec.Root = rec.Manifest
	}
	now := toNano(at)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		repoID, err := s.lockRepository(ctx, tx, rec.Registry, rec.Repository)
		if err != nil {
			return err
		}
		mid, err := s.putManifest(ctx, tx, repoID, rec, now)
		if err != nil {
			return err
		}
		if err := s.putLayers(ctx, tx, mid, rec.Layers); err != nil {
			return err
		}
		tags := append([]string(nil), rec.Tags...)
		sort.Strings(tags)
		for _, t := range tags {
			if err := s.putTag(ctx, tx, repoID, t, rec.Root, now); err != nil {
				return err
			}
		}
		if err := s.putFindings(ctx, tx, mid, findings, now); err != nil {
			return err
		}
		return s.resolve(ctx, tx, repoID, now)
	})
	if err != nil {
		return fmt.Errorf("store: record %s/%s@%s: %w", rec.Registry, rec.Repository, rec.Manifest, err)
	}
	return nil
}

// SyncTags sets a repository's tags to the registry's current view: tags
// not in tags are removed, the others set to their digests. Then findings
// whose manifest no tag references any more are resolved (resolved_at = at)
// and resolved ones whose manifest a tag references again are reopened. An
// empty map means the repository has no tags (or is gone).
func (s *Store) SyncTags(ctx context.Context, registry, repo string, tags map[string]image.Digest, at time.Time) error {
	if registry == "" || repo == "" {
		return fmt.Errorf("%w: registry %q, repository %q", ErrBadRecord, registry, repo)
	}
	now := toNano(at)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		repoID, err := s.lockRepository(ctx, tx, registry, repo)
		if err != nil {
			return err
		}
		have, err := s.tagNames(ctx, tx, repoID)
		if err != nil {
			return err
		}
		for _, t := range have {
			if _, ok := tags[t]; ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM tags WHERE repository_id = ? AND name = ?`), repoID, t); err != nil {
				return err
			}
		}
		for _, t := range sortedKeys(tags) {
			if err := s.putTag(ctx, tx, repoID, t, tags[t], now); err != nil {
				return err
			}
		}
		return s.resolve(ctx, tx, repoID, now)
	})
	if err != nil {
		return fmt.Errorf("store: sync tags of %s/%s: %w", registry, repo, err)
	}
	return nil
}

func (s *Store) tagNames(ctx context.Context, tx *sql.Tx, repoID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT name FROM tags WHERE repository_id = ? ORDER BY name`), repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// lockRepository returns the repository's id, creating the registry and
// repository rows when missing. On Postgres it locks the repository row for
// the transaction, so that writers of one repository take turns (the
// resolve pass then always sees every tag) and cannot deadlock; SQLite's
// IMMEDIATE transactions are serialised already.
func (s *Store) lockRepository(ctx context.Context, tx *sql.Tx, registry, repo string) (int64, error) {
	regID, err := s.ensureID(ctx, tx,
		`SELECT id FROM registries WHERE host = ?`,
		`INSERT INTO registries (host) VALUES (?) ON CONFLICT (host) DO NOTHING RETURNING id`, registry)
	if err != nil {
		return 0, fmt.Errorf("registry row: %w", err)
	}
	repoID, err := s.ensureID(ctx, tx,
		`SELECT id FROM repositories WHERE registry_id = ? AND name = ?`,
		`INSERT INTO repositories (registry_id, name) VALUES (?, ?) ON CONFLICT (registry_id, name) DO NOTHING RETURNING id`, regID, repo)
	if err != nil {
		return 0, fmt.Errorf("repository row: %w", err)
	}
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT id FROM repositories WHERE id = $1 FOR UPDATE`, repoID); err != nil {
			return 0, fmt.Errorf("lock repository: %w", err)
		}
	}
	return repoID, nil
}

// ensureID selects a row's id, inserting the row when missing. ON CONFLICT
// DO NOTHING takes no lock on an existing row; when a concurrent insert won,
// the second select sees its committed row.
func (s *Store) ensureID(ctx context.Context, tx *sql.Tx, sel, ins string, args ...any) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.q(sel), args...).Scan(&id)
	if err != sql.ErrNoRows {
		return id, err
	}
	err = tx.QueryRowContext(ctx, s.q(ins), args...).Scan(&id)
	if err != sql.ErrNoRows {
		return id, err
	}
	return id, tx.QueryRowContext(ctx, s.q(sel), args...).Scan(&id)
}

func (s *Store) putManifest(ctx context.Context, tx *sql.Tx, repoID int64, rec ImageRecord, now int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO manifests (repository_id, digest, root, platform, ruleset, scanned_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET root = excluded.root, platform = excluded.platform,
			ruleset = excluded.ruleset, scanned_at = excluded.scanned_at
		RETURNING id`),
		repoID, string(rec.Manifest), string(rec.Root), rec.Platform, rec.Ruleset, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("manifest row: %w", err)
	}
	return id, nil
}

func (s *Store) putLayers(ctx context.Context, tx *sql.Tx, mid int64, layers []LayerRef) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM manifest_layers WHERE manifest_id = ?`), mid); err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	for len(layers) > 0 {
		batch := layers[:min(len(layers), 1000)]
		layers = layers[len(batch):]
		args := make([]any, 0, 6*len(batch))
		for _, l := range batch {
			args = append(args, mid, l.Index, string(l.Digest), string(l.DiffID), l.Size, l.CreatedBy)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO manifest_layers (manifest_id, idx, layer_key, diff_id, size, created_by) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", len(batch)), ", ")+` ON CONFLICT (manifest_id, idx) DO NOTHING`), args...)
		if err != nil {
			return fmt.Errorf("layers: %w", err)
		}
	}
	return nil
}

func (s *Store) putTag(ctx context.Context, tx *sql.Tx, repoID int64, tag string, digest image.Digest, now int64) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
		WHERE tags.digest <> excluded.digest`), repoID, tag, string(digest), now)
	if err != nil {
		return fmt.Errorf("tag %s: %w", tag, err)
	}
	return nil
}

// putFindings marks the manifest's findings unreported, then upserts the
// reported ones: a new one gets first_seen = last_seen = now, a known one
// keeps first_seen and takes the later last_seen. Rows go in multi-row
// statements (one round trip per batch), each key once per statement.
func (s *Store) putFindings(ctx context.Context, tx *sql.Tx, mid int64, findings []scan.Finding, now int64) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET reported = 0 WHERE manifest_id = ?`), mid); err != nil {
		return fmt.Errorf("findings: %w", err)
	}
	rows := uniqueFindings(findings)
	for len(rows) > 0 {
		batch := rows[:min(len(rows), findingBatch)]
		rows = rows[len(batch):]
		args := make([]any, 0, len(batch)*findingParams)
		for _, f := range batch {
			args = append(args, mid, f.Fingerprint, f.Rule, findingLoc(f), f.Description, f.Severity, string(f.Kind), string(f.State),
				nullInt(f.Layer), string(f.LayerDigest), string(f.DiffID), f.Path, f.Line, nullInt(f.HiddenBy), f.CreatedBy,
				f.Redacted, f.Encoding, f.Confidence, f.Validation, f.Context, now, now)
		}
		values := strings.TrimSuffix(strings.Repeat(findingValues+", ", len(batch)), ", ")
		if _, err := tx.ExecContext(ctx, s.q(findingInsert+values+findingConflict), args...); err != nil {
			return fmt.Errorf("findings of manifest: %w", err)
		}
	}
	return nil
}

// findingBatch rows of findingParams parameters stay under SQLite's and
// Postgres' limits on bound parameters (32766 and 65535).
const (
	findingBatch  = 500
	findingParams = 22
)

const (
	findingInsert = `INSERT INTO findings (manifest_id, fingerprint, rule, loc, description, severity, kind, state,
	layer_index, layer_digest, diff_id, path, line, hidden_by, created_by, redacted, encoding, confidence, validation, context,
	first_seen, last_seen) VALUES `
	findingValues   = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	findingConflict = ` ON CONFLICT (manifest_id, fingerprint, rule, loc) DO UPDATE SET reported = 1,
	description = excluded.description, severity = excluded.severity, kind = excluded.kind, state = excluded.state,
	layer_digest = excluded.layer_digest, diff_id = excluded.diff_id, hidden_by = excluded.hidden_by,
	created_by = excluded.created_by, redacted = excluded.redacted, encoding = excluded.encoding,
	confidence = excluded.confidence, validation = excluded.validation, context = excluded.context,
	last_seen = CASE WHEN excluded.last_seen > findings.last_seen THEN excluded.last_seen ELSE findings.last_seen END`
)

// uniqueFindings keeps the last finding of each key (one statement may
// not update a row twice).
func uniqueFindings(findings []scan.Finding) []*scan.Finding {
	type key struct{ fp, rule, loc string }
	at := map[key]int{}
	var out []*scan.Finding
	for i := range findings {
		f := &findings[i]
		k := key{f.Fingerprint, f.Rule, findingLoc(f)}
		if j, ok := at[k]; ok {
			out[j] = f
			continue
		}
		at[k] = len(out)
		out = append(out, f)
	}
	return out
}

// findingLoc is a finding's location within its manifest: layer, path, line.
func findingLoc(f *scan.Finding) string {
	l := "-"
	if f.Layer != nil {
		l = strconv.Itoa(*f.Layer)
	}
	return l + "|" + f.Path + "|" + strconv.Itoa(f.Line)
}

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// taggedManifests selects the manifests of repository ? that a tag of the
// repository references, directly or through their index.
const taggedManifests = `SELECT m.id FROM manifests m WHERE m.repository_id = ? AND EXISTS (
	SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND (t.digest = m.digest OR t.digest = m.root))`

// resolve applies the rule to every finding of a repository: open iff the
// manifest's latest scan reports it and a tag references the manifest.
func (s *Store) resolve(ctx context.Context, tx *sql.Tx, repoID, now int64) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE findings SET resolved_at = ?
		WHERE resolved_at IS NULL AND manifest_id IN (SELECT id FROM manifests WHERE repository_id = ?)
		AND (reported = 0 OR manifest_id NOT IN (`+taggedManifests+`))`), now, repoID, repoID)
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE findings SET resolved_at = NULL
		WHERE resolved_at IS NOT NULL AND reported = 1 AND manifest_id IN (`+taggedManifests+`)`), repoID)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	return nil
}

// Repositories lists the repositories the store knows in a registry, so a
// sweep can SyncTags (with no tags) those its catalog no longer lists.
func (s *Store) Repositories(ctx context.Context, registry string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.name FROM repositories r JOIN registries g ON g.id = r.registry_id
		WHERE g.host = ? ORDER BY r.name`), registry)
	if err != nil {
		return nil, fmt.Errorf("store: repositories of %s: %w", registry, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: repositories of %s: %w", registry, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
