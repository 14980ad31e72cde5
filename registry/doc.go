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
// Registries are untrusted. Every wait is bounded (Options.ConnectTimeout,
// TLSHandshakeTimeout, ResponseHeaderTimeout, IdleBodyTimeout; a stall is a
// *TimeoutError naming the host and the phase); no read goes past a
// descriptor's declared size plus one byte; credentials go only to the
// registry's own host and to token realms on its site over HTTPS
// (ErrCredentialsRefused otherwise, unless Options.AllowCrossHostAuth); tag
// and catalog listings stop at Options.MaxTags / MaxRepos (*ListLimitError).
//
// Errors are *StatusError values that wrap sentinels: content.ErrNotFound
// (404), ErrUnauthorized (401/403), ErrUnsupported (delete disabled or not
// supported), ErrTooManyRequests (429 after retries). Test with errors.Is.
package registry
