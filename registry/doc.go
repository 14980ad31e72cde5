// Package registry is strata's client for OCI / Docker distribution
// registries.
//
// It speaks the distribution API directly (net/http requests carrying the
// caller's context) on top of go-containerregistry's authentication
// transports (Basic and Bearer token flows, Docker config and credential
// helpers), so that it controls what registries disagree on: the Accept list
// (every manifest kind comes back as stored), status codes (DELETE semantics
// differ between distribution 2.8 and 3), Link-header pagination (relative
// links), the referrers API and its fallback tag, retries with backoff on
// 429, 5xx and broken connections, and digest verification of manifests.
//
// Entry points: New returns a Client; Client.Repo gives per-repository
// operations (tags, manifests, blobs, referrers, deletes); Client.Open returns
// a Store, the content.Store the source layer reads images through.
//
// Errors are *StatusError values that wrap sentinels: content.ErrNotFound
// (404), ErrUnauthorized (401/403), ErrUnsupported (delete disabled or not
// supported), ErrTooManyRequests (429 after retries). Test with errors.Is.
package registry
