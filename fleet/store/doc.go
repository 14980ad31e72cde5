// Package store is the fleet's findings store: registries, repositories,
// tags, scanned manifests and their layers, per-layer scan results (it is a
// scan.ResultStore) and findings with their first-seen, last-seen and
// resolved times, on SQLite (modernc.org/sqlite, the embedded default) or
// Postgres (pgx).
//
// Open applies strata's versioned migrations (embedded SQL per dialect,
// recorded in a schema_migrations table; a database written by a newer
// strata is refused) and River's own migrations with the matching River
// driver, so one Open prepares everything the fleet's job queue needs.
//
// A finding is open while its manifest's latest scan still reports it and a
// tag of its repository references the manifest (or the index holding it);
// otherwise it is resolved, and it reopens when a tag points at it again.
//
// No secret value is ever stored: findings carry the redacted match and the
// sha256 fingerprint; the API token is stored as its sha256.
package store
