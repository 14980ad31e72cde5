package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stratascan/strata/image"
)

const findingCols = `f.id, g.host, r.name, m.id, m.digest, m.platform, f.rule, f.description, f.severity, f.kind,
	f.layer_index, f.layer_digest, f.diff_id, f.path, f.line, f.state, f.hidden_by, f.created_by, f.redacted,
	f.fingerprint, f.encoding, f.confidence, f.validation, f.context, f.first_seen, f.last_seen, f.resolved_at
	FROM findings f JOIN manifests m ON m.id = f.manifest_id JOIN repositories r ON r.id = m.repository_id
	JOIN registries g ON g.id = r.registry_id`

// Findings lists the findings f selects, most recently seen first.
func (s *Store) Findings(ctx context.Context, f Filter) ([]FindingRow, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	if f.Offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrBadFilter, f.Offset)
	}
	args = append(args, limit, f.Offset)
	rows, err := s.findingRows(ctx, `SELECT `+findingCols+where+` ORDER BY f.last_seen DESC, f.id DESC LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list findings: %w", err)
	}
	return rows, nil
}

// where renders the filter as a WHERE clause with ? placeholders.
func (f Filter) where() (string, []any, error) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	for _, c := range []struct {
		col, v string
	}{{"g.host", f.Registry}, {"r.name", f.Repository}, {"f.rule", f.Rule}, {"f.severity", f.Severity},
		{"f.state", f.State}, {"f.fingerprint", f.Fingerprint}, {"m.digest", string(f.Manifest)}} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	switch f.Status {
	case "":
	case StatusOpen:
		conds = append(conds, "f.resolved_at IS NULL")
	case StatusResolved:
		conds = append(conds, "f.resolved_at IS NOT NULL")
	default:
		return "", nil, fmt.Errorf("%w: status %q (want %s, %s or empty)", ErrBadFilter, f.Status, StatusOpen, StatusResolved)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// Fingerprint lists every finding of one secret (by its sha256
// fingerprint) across every registry, repository and manifest, open first.
func (s *Store) Fingerprint(ctx context.Context, fp string) ([]FindingRow, error) {
	rows, err := s.findingRows(ctx, `SELECT `+findingCols+` WHERE f.fingerprint = ?
		ORDER BY CASE WHEN f.resolved_at IS NULL THEN 0 ELSE 1 END, g.host, r.name, m.digest, f.id`, fp)
	if err != nil {
		return nil, fmt.Errorf("store: findings of fingerprint %s: %w", fp, err)
	}
	return rows, nil
}

// findingRows runs a findingCols query and fills each row's current tags.
func (s *Store) findingRows(ctx context.Context, query string, args ...any) ([]FindingRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out  []FindingRow
		mids []int64
	)
	for rows.Next() {
		var (
			r                 FindingRow
			mid               int64
			layer, hidden     sql.NullInt64
			manifest, ld, did string
			first, last       int64
			resolved          sql.NullInt64
		)
		err := rows.Scan(&r.ID, &r.Registry, &r.Repository, &mid, &manifest, &r.Platform, &r.Rule, &r.Description,
			&r.Severity, &r.Kind, &layer, &ld, &did, &r.Path, &r.Line, &r.State, &hidden, &r.CreatedBy, &r.Redacted,
			&r.Fingerprint, &r.Encoding, &r.Confidence, &r.Validation, &r.Context, &first, &last, &resolved)
		if err != nil {
			return nil, err
		}
		r.Manifest, r.LayerDigest, r.DiffID = image.Digest(manifest), image.Digest(ld), image.Digest(did)
		r.Layer, r.HiddenBy = intPtr(layer), intPtr(hidden)
		r.FirstSeen, r.LastSeen, r.ResolvedAt = fromNano(first), fromNano(last), fromNullNano(resolved)
		out = append(out, r)
		mids = append(mids, mid)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	tags, err := s.manifestTags(ctx, mids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Tags = tags[mids[i]]
	}
	return out, nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

// manifestTags maps manifest ids to the tags that reference them now.
func (s *Store) manifestTags(ctx context.Context, mids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	seen := map[int64]bool{}
	var uniq []any
	for _, id := range mids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	for len(uniq) > 0 {
		batch := uniq[:min(len(uniq), 500)]
		uniq = uniq[len(batch):]
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT m.id, t.name FROM manifests m JOIN tags t
			ON t.repository_id = m.repository_id AND (t.digest = m.digest OR t.digest = m.root)
			WHERE m.id IN (?`+strings.Repeat(", ?", len(batch)-1)+`) ORDER BY t.name`), batch...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				id  int64
				tag string
			)
			if err := rows.Scan(&id, &tag); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = append(out[id], tag)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Week is the window of Overview's "this week" counts.
const Week = 7 * 24 * time.Hour

// Overview summarises the store for the dashboard: leaking repositories,
// findings new and resolved in the week before now, totals by severity.
func (s *Store) Overview(ctx context.Context, now time.Time) (*Overview, error) {
	o := &Overview{OpenBySeverity: map[string]int{}}
	since := toNano(now.Add(-Week))
	err := s.db.QueryRowContext(ctx, s.q(`SELECT
		COALESCE(SUM(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN first_seen >= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN resolved_at >= ? THEN 1 ELSE 0 END), 0)
		FROM findings`), since, since).Scan(&o.Open, &o.Resolved, &o.NewThisWeek, &o.ResolvedThisWeek)
	if err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM registries), (SELECT COUNT(*) FROM repositories),
		(SELECT COUNT(*) FROM manifests)`).Scan(&o.Registries, &o.Repositories, &o.Images)
	if err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	if err := s.countBySeverity(ctx, func(sev string, n int64) { o.OpenBySeverity[sev] = int(n) }); err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	if o.Leaking, err = s.leaking(ctx); err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	return o, nil
}

func (s *Store) countBySeverity(ctx context.Context, put func(string, int64)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT severity, COUNT(*) FROM findings WHERE resolved_at IS NULL GROUP BY severity`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			sev string
			n   int64
		)
		if err := rows.Scan(&sev, &n); err != nil {
			return err
		}
		put(sev, n)
	}
	return rows.Err()
}

// leaking lists repositories with open findings, most open findings first.
func (s *Store) leaking(ctx context.Context) ([]RepositoryLeaks, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.host, r.name, COUNT(DISTINCT m.id), COUNT(*), COUNT(DISTINCT f.fingerprint), r.id
		FROM findings f JOIN manifests m ON m.id = f.manifest_id JOIN repositories r ON r.id = m.repository_id
		JOIN registries g ON g.id = r.registry_id WHERE f.resolved_at IS NULL
		GROUP BY g.host, r.name, r.id ORDER BY COUNT(*) DESC, g.host, r.name`)
	if err != nil {
		return nil, err
	}
	var (
		out []RepositoryLeaks
		ids []int64
	)
	for rows.Next() {
		var (
			l  RepositoryLeaks
			id int64
		)
		if err := rows.Scan(&l.Registry, &l.Repository, &l.Images, &l.Findings, &l.Fingerprints, &id); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, l)
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if out[i].Manifests, out[i].Tags, err = s.leakingImages(ctx, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// leakingImages lists a repository's manifests with open findings and
// their tags.
func (s *Store) leakingImages(ctx context.Context, repoID int64) ([]LeakingImage, []string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT m.id, m.digest, m.platform, COUNT(*) FROM findings f
		JOIN manifests m ON m.id = f.manifest_id WHERE m.repository_id = ? AND f.resolved_at IS NULL
		GROUP BY m.id, m.digest, m.platform ORDER BY COUNT(*) DESC, m.digest`), repoID)
	if err != nil {
		return nil, nil, err
	}
	var (
		out  []LeakingImage
		mids []int64
	)
	for rows.Next() {
		var (
			li  LeakingImage
			mid int64
			d   string
		)
		if err := rows.Scan(&mid, &d, &li.Platform, &li.Findings); err != nil {
			rows.Close()
			return nil, nil, err
		}
		li.Manifest = image.Digest(d)
		out = append(out, li)
		mids = append(mids, mid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	tags, err := s.manifestTags(ctx, mids)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var all []string
	for i, mid := range mids {
		out[i].Tags = tags[mid]
		for _, t := range tags[mid] {
			if !seen[t] {
				seen[t] = true
				all = append(all, t)
			}
		}
	}
	sort.Strings(all)
	return out, all, nil
}

// Image is one manifest of a repository with its layers (in order, with
// their build steps) and its findings, for the image page. ErrNotFound when
// the store has no such image.
func (s *Store) Image(ctx context.Context, registry, repo string, manifest image.Digest) (*ImageView, error) {
	v := &ImageView{Registry: registry, Repository: repo, Manifest: manifest}
	var (
		mid     int64
		root    string
		scanned int64
	)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT m.id, m.root, m.platform, m.ruleset, m.scanned_at
		FROM manifests m JOIN repositories r ON r.id = m.repository_id JOIN registries g ON g.id = r.registry_id
		WHERE g.host = ? AND r.name = ? AND m.digest = ?`), registry, repo, string(manifest)).
		Scan(&mid, &root, &v.Platform, &v.Ruleset, &scanned)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("%w: image %s/%s@%s", ErrNotFound, registry, repo, manifest)
	}
	if err != nil {
		return nil, fmt.Errorf("store: image %s/%s@%s: %w", registry, repo, manifest, err)
	}
	v.Root, v.ScannedAt = image.Digest(root), fromNano(scanned)
	if v.Layers, err = s.layers(ctx, mid); err != nil {
		return nil, fmt.Errorf("store: layers of %s/%s@%s: %w", registry, repo, manifest, err)
	}
	tags, err := s.manifestTags(ctx, []int64{mid})
	if err != nil {
		return nil, fmt.Errorf("store: tags of %s/%s@%s: %w", registry, repo, manifest, err)
	}
	v.Tags = tags[mid]
	v.Findings, err = s.findingRows(ctx, `SELECT `+findingCols+` WHERE m.id = ?
		ORDER BY CASE WHEN f.layer_index IS NULL THEN -1 ELSE f.layer_index END, f.path, f.line, f.id`, mid)
	if err != nil {
		return nil, fmt.Errorf("store: findings of %s/%s@%s: %w", registry, repo, manifest, err)
	}
	return v, nil
}

func (s *Store) layers(ctx context.Context, mid int64) ([]LayerRef, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT idx, layer_key, diff_id, size, created_by FROM manifest_layers
		WHERE manifest_id = ? ORDER BY idx`), mid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LayerRef
	for rows.Next() {
		var (
			l       LayerRef
			key, di string
		)
		if err := rows.Scan(&l.Index, &key, &di, &l.Size, &l.CreatedBy); err != nil {
			return nil, err
		}
		l.Digest, l.DiffID = image.Digest(key), image.Digest(di)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Stats reads the store's counters for /metrics.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	st := &Stats{OpenBySeverity: map[string]int64{}}
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(scan_count), 0), COALESCE(SUM(bytes * scan_count), 0),
		COALESCE(SUM(files * scan_count), 0) FROM layer_results`).Scan(&st.Layers, &st.LayerScans, &st.BytesRead, &st.Files)
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM manifests),
		(SELECT COUNT(*) FROM findings WHERE resolved_at IS NOT NULL)`).Scan(&st.Images, &st.Resolved)
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	if err := s.countBySeverity(ctx, func(sev string, n int64) { st.OpenBySeverity[sev] = n }); err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
