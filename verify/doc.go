// Package verify checks, on explicit request only, whether a leaked
// credential still works, by asking its own provider's read-only identity
// endpoint ("who am I?"), never an endpoint that changes anything.
//
// A Checker holds one Verifier per provider, registered by the secret rule
// IDs whose matches it understands. Check takes Candidates (a secret value,
// its rule, its fingerprint and the other secrets and text found next to it
// in the same file), checks each distinct fingerprint once, and returns a
// Result per fingerprint: active (with the identity the provider returned:
// account, user, scopes; never the secret), inactive (revoked or invalid), or
// unknown (network error, rate limit, timeout, provider not supported).
//
// Safety rules, enforced here rather than left to callers:
//
//   - a secret is sent only to its provider's documented endpoint, over
//     HTTPS; endpoints are data (Endpoint) and can be redirected only by
//     Options.TestEndpoints, which no command-line flag sets;
//   - credentials for a host named in the file itself (a registry in a
//     Docker auth file, a Databricks workspace) are sent there only when
//     Options.AllowHosts names that host;
//   - redirects to another host are never followed;
//   - every request has a timeout; each provider has a concurrency limit and
//     a minimum interval between requests; 429 and 5xx answers are unknown,
//     never inactive;
//   - Plan lists what would be contacted without sending anything;
//   - results may be cached by fingerprint (Cache), never with the value.
//
// Requests honour the standard proxy variables (HTTPS_PROXY, NO_PROXY).
package verify
