package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/stratascan/strata/scan"
)

// *Store is the fleet's scan.ResultStore: per-layer results and config-text
// results shared by every worker, keyed by (key, ruleset hash).
var _ scan.ResultStore = (*Store)(nil)

// LayerResults returns the stored results of the keys under ruleset, decoded
// (without their listings); a key missing or whose bytes do not decode is
// left out (a miss the next PutLayerResult overwrites).
func (s *Store) LayerResults(ctx context.Context, keys []string, ruleset string) (map[string]*scan.LayerResult, error) {
	out := make(map[string]*scan.LayerResult, len(keys))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		args := make([]any, 0, len(batch)+1)
		args = append(args, ruleset)
		for _, k := range batch {
			args = append(args, k)
		}
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT layer_key, result FROM layer_results WHERE ruleset = ? AND layer_key IN (?`+
			strings.Repeat(", ?", len(batch)-1)+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("store: read layer results: %w", err)
		}
		err = s.decodeResults(rows, out)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: read layer results: %w", err)
		}
	}
	return out, nil
}

func (s *Store) decodeResults(rows *sql.Rows, out map[string]*scan.LayerResult) error {
	for rows.Next() {
		var (
			key string
			b   []byte
		)
		if err := rows.Scan(&key, &b); err != nil {
			return err
		}
		r := new(scan.LayerResult)
		if err := r.UnmarshalBinary(b); err != nil {
			s.log.Warn("store: undecodable layer result, scanning again", "layer", key, "err", err)
			continue
		}
		out[key] = r
	}
	return rows.Err()
}

// PutLayerResult stores r (its binary encoding and its listing beside it)
// under (key, ruleset) and counts one more real scan of the layer. Only a
// result the walk verified against its digest may be stored under its key
// (scan.Run and the fleet store nothing else).
func (s *Store) PutLayerResult(ctx context.Context, key, ruleset string, r *scan.LayerResult) error {
	b, err := r.MarshalBinary()
	if err != nil {
		return fmt.Errorf("store: encode result of layer %s: %w", key, err)
	}
	listing, err := r.MarshalListing()
	if errors.Is(err, scan.ErrNoListing) {
		listing, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("store: encode listing of layer %s: %w", key, err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO layer_results (layer_key, ruleset, diff_id, result, listing, files, bytes, matches, scanned_at, scan_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (layer_key, ruleset) DO UPDATE SET diff_id = excluded.diff_id, result = excluded.result, listing = excluded.listing,
			files = excluded.files, bytes = excluded.bytes, matches = excluded.matches, scanned_at = excluded.scanned_at,
			scan_count = layer_results.scan_count + 1`),
		key, ruleset, string(r.DiffID()), b, listing, r.Files, r.Bytes, r.Findings(), nowNano())
	if err != nil {
		return fmt.Errorf("store: put result of layer %s: %w", key, err)
	}
	return nil
}

// LayerListing returns the listing stored with the layer's result, nil when
// there is none.
func (s *Store) LayerListing(ctx context.Context, key, ruleset string) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT listing FROM layer_results WHERE layer_key = ? AND ruleset = ?`), key, ruleset).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read listing of layer %s: %w", key, err)
	}
	return b, nil
}

// TextResult returns the matches stored for a config text or attestation
// (keyed by the sha256 of the texts), ok false when none.
func (s *Store) TextResult(ctx context.Context, key, ruleset string) ([]byte, bool, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT matches FROM text_results WHERE text_key = ? AND ruleset = ?`), key, ruleset).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: read text result %s: %w", key, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, true, nil
}

// PutTextResult stores the matches of a config text or attestation.
func (s *Store) PutTextResult(ctx context.Context, key, ruleset string, matches []byte) error {
	if matches == nil {
		matches = []byte{}
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO text_results (text_key, ruleset, matches, scanned_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (text_key, ruleset) DO UPDATE SET matches = excluded.matches, scanned_at = excluded.scanned_at`),
		key, ruleset, matches, nowNano())
	if err != nil {
		return fmt.Errorf("store: put text result %s: %w", key, err)
	}
	return nil
}

// LayerScanCount is how many times the layer keyed key was actually scanned
// under ruleset (each PutLayerResult counts one; 0 when never).
func (s *Store) LayerScanCount(ctx context.Context, key, ruleset string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT scan_count FROM layer_results WHERE layer_key = ? AND ruleset = ?`), key, ruleset).Scan(&n)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: scan count of layer %s: %w", key, err)
	}
	return n, nil
}
