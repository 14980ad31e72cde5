package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// tokenPrefix marks strata API tokens so they are recognisable in a config.
const tokenPrefix = "strata_"

// EnsureToken makes sure the store holds an API token. When none exists it
// generates one (32 bytes from crypto/rand), stores only its sha256 and
// returns the plain token with created true: the caller shows it once, it
// cannot be read back. Otherwise plain is "" and created false. Concurrent
// callers (several processes starting at once) create exactly one.
func (s *Store) EnsureToken(ctx context.Context) (plain string, created bool, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, fmt.Errorf("store: generate the API token: %w", err)
	}
	plain = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO tokens (name, sha256, created_at) VALUES ('api', ?, ?) ON CONFLICT (name) DO NOTHING`), hashToken(plain), nowNano())
	if err != nil {
		return "", false, fmt.Errorf("store: store the API token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", false, fmt.Errorf("store: store the API token: %w", err)
	}
	if n == 0 {
		return "", false, nil
	}
	return plain, true, nil
}

// CheckToken reports whether plain is the API token (its sha256 compared in
// constant time with the stored one).
func (s *Store) CheckToken(ctx context.Context, plain string) (bool, error) {
	var stored string
	err := s.db.QueryRowContext(ctx, `SELECT sha256 FROM tokens WHERE name = 'api'`).Scan(&stored)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read the API token: %w", err)
	}
	got := hashToken(plain)
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1, nil
}

func hashToken(plain string) string {
	h := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(h[:])
}
