package provenance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// ErrNoDefaultPath means no default location exists for the base store on
// this system (no home or config directory): the caller must name one.
var ErrNoDefaultPath = errors.New("no default location for the base store")

// OpenReadOnly opens the store at path for reading only. It never creates
// a file: when path does not exist the store is empty (an in-memory
// database with the schema), so read-only commands leave no trace.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open base store: empty path")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		db, err := sql.Open("sqlite", "file::memory:")
		if err != nil {
			return nil, fmt.Errorf("open base store %s: %w", path, err)
		}
		db.SetMaxOpenConns(1) // one connection: the in-memory schema lives in it
		if _, err := db.ExecContext(ctx, schemaSQL); err != nil {
			db.Close()
			return nil, fmt.Errorf("open base store %s: %w", path, err)
		}
		return &Store{db: db, path: path}, nil
	} else if err != nil {
		return nil, fmt.Errorf("open base store: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open base store %s: %w", path, err)
	}
	if err := checkVersion(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, path: path}, nil
}
