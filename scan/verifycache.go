package scan

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/stratascan/strata/verify"
)

// verifyTable holds verification verdicts by fingerprint: the verdict, the
// provider, the identity and when it was checked; never the secret.
const verifyTable = "verify_results_v1"

// Verifications returns a verify.Cache kept in the same SQLite file.
func (c *Cache) Verifications(ctx context.Context) (verify.Cache, error) {
	_, err := c.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+verifyTable+` (
		fingerprint TEXT PRIMARY KEY, checked_at INTEGER NOT NULL, result BLOB NOT NULL)`)
	if err != nil {
		return nil, err
	}
	return verifyCache{c.db}, nil
}

type verifyCache struct{ db *sql.DB }

func (v verifyCache) Get(ctx context.Context, fp string, maxAge time.Duration) (verify.Result, bool, error) {
	var at int64
	var blob []byte
	err := v.db.QueryRowContext(ctx, `SELECT checked_at, result FROM `+verifyTable+` WHERE fingerprint = ?`, fp).Scan(&at, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return verify.Result{}, false, nil
	}
	if err != nil {
		return verify.Result{}, false, err
	}
	if time.Since(time.Unix(at, 0)) > maxAge {
		return verify.Result{}, false, nil
	}
	var r verify.Result
	if err := json.Unmarshal(blob, &r); err != nil {
		return verify.Result{}, false, nil
	}
	return r, true, nil
}

func (v verifyCache) Put(ctx context.Context, fp string, r verify.Result) error {
	blob, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = v.db.ExecContext(ctx, `INSERT OR REPLACE INTO `+verifyTable+` (fingerprint, checked_at, result) VALUES (?, ?, ?)`,
		fp, r.CheckedAt.Unix(), blob)
	return err
}
