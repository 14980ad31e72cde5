package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// LayerScanCount is how many times the layer keyed key was actually scanned
// under ruleset (each stored result counts one scan; 0 when never).
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

// layerBlob is one stored layer result with the counters kept beside it.
type layerBlob struct {
	diffID       string
	result       []byte
	files, bytes int64
	matches      int64
	scannedAt    time.Time
}

// putLayerBlob stores a layer's encoded result and counts one more scan.
func (s *Store) putLayerBlob(ctx context.Context, key, ruleset string, b layerBlob) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO layer_results (layer_key, ruleset, diff_id, result, files, bytes, matches, scanned_at, scan_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (layer_key, ruleset) DO UPDATE SET diff_id = excluded.diff_id, result = excluded.result,
			files = excluded.files, bytes = excluded.bytes, matches = excluded.matches, scanned_at = excluded.scanned_at,
			scan_count = layer_results.scan_count + 1`),
		key, ruleset, b.diffID, b.result, b.files, b.bytes, b.matches, toNano(b.scannedAt))
	if err != nil {
		return fmt.Errorf("store: put result of layer %s: %w", key, err)
	}
	return nil
}
