package store

import (
	"context"
	"database/sql"
	"fmt"
)

const metaRuleset = "ruleset"

// Ruleset is the ruleset hash recorded by SetRuleset ("" when none): the
// fleet compares it with its own on start and sweeps everything when it
// changed.
func (s *Store) Ruleset(ctx context.Context) (string, error) {
	return s.meta(ctx, metaRuleset)
}

// SetRuleset records the ruleset hash in use.
func (s *Store) SetRuleset(ctx context.Context, hash string) error {
	return s.setMeta(ctx, metaRuleset, hash)
}

func (s *Store) meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE key = ?`), key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read %s: %w", key, err)
	}
	return v, nil
}

func (s *Store) setMeta(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`), key, value)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", key, err)
	}
	return nil
}
