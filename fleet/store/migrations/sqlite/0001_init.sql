-- strata findings store, version 1 (SQLite). Times are Unix nanoseconds (UTC).
-- No secret value is ever stored: findings carry the redacted match and the
-- sha256 fingerprint only; tokens are stored as their sha256.
CREATE TABLE registries (
  id   INTEGER PRIMARY KEY,
  host TEXT NOT NULL UNIQUE
);
CREATE TABLE repositories (
  id          INTEGER PRIMARY KEY,
  registry_id INTEGER NOT NULL REFERENCES registries(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  UNIQUE (registry_id, name)
);
-- tags: what the registry says now. digest is the tag's target (an index or
-- a manifest), which may not have been scanned yet, hence no foreign key.
CREATE TABLE tags (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  digest        TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (repository_id, name)
);
CREATE INDEX tags_digest ON tags (repository_id, digest);
-- manifests: one scanned image manifest in a repository. root is the digest
-- tags reference when the manifest is a child of an index (else = digest).
CREATE TABLE manifests (
  id            INTEGER PRIMARY KEY,
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest        TEXT NOT NULL,
  root          TEXT NOT NULL,
  platform      TEXT NOT NULL DEFAULT '',
  ruleset       TEXT NOT NULL DEFAULT '',
  scanned_at    INTEGER NOT NULL,
  UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_root ON manifests (repository_id, root);
CREATE TABLE manifest_layers (
  manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL,
  layer_key   TEXT NOT NULL,
  diff_id     TEXT NOT NULL DEFAULT '',
  size        INTEGER NOT NULL DEFAULT 0,
  created_by  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (manifest_id, idx)
);
CREATE INDEX manifest_layers_key ON manifest_layers (layer_key);
-- layer_results: one layer's scan result (scan.LayerResult's binary
-- encoding), keyed by its verified blob digest and the ruleset hash.
-- listing is the layer's path listing (opaque to the store, possibly MBs).
-- scan_count counts the real scans (each PutLayerResult).
CREATE TABLE layer_results (
  layer_key  TEXT NOT NULL,
  ruleset    TEXT NOT NULL,
  diff_id    TEXT NOT NULL DEFAULT '',
  result     BLOB NOT NULL,
  listing    BLOB,
  files      INTEGER NOT NULL DEFAULT 0,
  bytes      INTEGER NOT NULL DEFAULT 0,
  matches    INTEGER NOT NULL DEFAULT 0,
  scanned_at INTEGER NOT NULL,
  scan_count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (layer_key, ruleset)
);
CREATE TABLE text_results (
  text_key   TEXT NOT NULL,
  ruleset    TEXT NOT NULL,
  matches    BLOB NOT NULL,
  scanned_at INTEGER NOT NULL,
  PRIMARY KEY (text_key, ruleset)
);
-- findings: one match in one manifest, keyed by (manifest, fingerprint, rule,
-- location). reported: the manifest's latest scan still reports it. A
-- finding is open (resolved_at NULL) iff it is reported and some tag of the
-- repository references its manifest (or the manifest's index).
CREATE TABLE findings (
  id           INTEGER PRIMARY KEY,
  manifest_id  INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
  fingerprint  TEXT NOT NULL,
  rule         TEXT NOT NULL,
  loc          TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  severity     TEXT NOT NULL DEFAULT '',
  kind         TEXT NOT NULL DEFAULT '',
  state        TEXT NOT NULL DEFAULT '',
  layer_index  INTEGER,
  layer_digest TEXT NOT NULL DEFAULT '',
  diff_id      TEXT NOT NULL DEFAULT '',
  path         TEXT NOT NULL DEFAULT '',
  line         INTEGER NOT NULL DEFAULT 0,
  hidden_by    INTEGER,
  created_by   TEXT NOT NULL DEFAULT '',
  redacted     TEXT NOT NULL DEFAULT '',
  encoding     TEXT NOT NULL DEFAULT '',
  confidence   TEXT NOT NULL DEFAULT '',
  validation   TEXT NOT NULL DEFAULT '',
  context      TEXT NOT NULL DEFAULT '',
  reported     INTEGER NOT NULL DEFAULT 1,
  first_seen   INTEGER NOT NULL,
  last_seen    INTEGER NOT NULL,
  resolved_at  INTEGER,
  UNIQUE (manifest_id, fingerprint, rule, loc)
);
CREATE INDEX findings_fingerprint ON findings (fingerprint);
CREATE INDEX findings_open ON findings (resolved_at);
CREATE TABLE tokens (
  name       TEXT PRIMARY KEY,
  sha256     TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
