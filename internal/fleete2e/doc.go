// Package fleete2e holds the end-to-end test and the scale benchmark of
// strata's fleet service (`strata serve` and `strata worker`): real
// processes of the strata binary (built once per test run) against a real
// Postgres (internal/pgtest) or the embedded SQLite default, the Debian
// docker-registry 2.8 with TLS, htpasswd and notifications posting to
// strata's webhook, and fleets of images pushed with skopeo
// (internal/fleettest). It has no non-test code besides this comment.
package fleete2e
