// Package web is the HTTP face of strata's fleet service: the registry
// webhook, the JSON API, the dashboard pages, authentication, health
// checks and Prometheus metrics, all served by one http.Handler
// (NewHandler).
//
// # Routes
//
//	POST /hook                        distribution notification envelope (webhook secret)
//	POST /api/v1/scan                 {"ref": "host/repo:tag"}: enqueue a reference by hand
//	GET  /api/v1/findings             filters: registry, repository, rule, severity, state,
//	                                  fingerprint, status (open|resolved), limit, offset
//	GET  /api/v1/fingerprints/{fp}    every image holding that secret
//	GET  /api/v1/images/{registry}/{repo...}@{digest}
//	GET  /api/v1/status               queue depth by job state, layers scanned, findings
//	GET  /                            overview page
//	GET  /findings                    findings page (the API's filters)
//	GET  /fingerprints/{fp}           fingerprint page
//	GET  /images/{registry}/{repo...}@{digest}   image page: layer timeline and findings
//	GET  /login, POST /login, POST /logout
//	GET  /healthz                     the process is up (no auth)
//	GET  /readyz                      the store answers, at this binary's schema (no auth)
//	GET  /metrics                     Prometheus text format
//
// # Access
//
// Every route but /login, /healthz, /readyz and /hook needs the service's
// bearer token (store.EnsureToken): as "Authorization: Bearer TOKEN", or
// as the session cookie that POST /login sets after checking a pasted
// token. The cookie holds an expiry and an HMAC-SHA256 over it under a
// per-handler key (Config.SessionKey, random by default), never the token;
// it is HttpOnly, SameSite=Strict, and Secure when the request came over
// TLS (or always, with Config.SecureCookie, behind a TLS proxy). Without either, API routes answer 401 with a JSON error and pages
// answer 401 with the login form as their body. State-changing requests
// (POST) from another origin are refused (net/http.CrossOriginProtection),
// so a logged-in browser cannot be made to enqueue scans or log in as
// someone else.
//
// The webhook has its own secret (Config.WebhookSecret), sent by the
// registry as "Authorization: Bearer SECRET" (distribution's
// notifications.endpoints[].headers), or as the whole value of another
// header (Config.WebhookHeader); it is compared in constant time.
// Only manifest pushes (OCI and Docker image manifests, indexes and
// manifest lists, by target.mediaType) are enqueued; blob pushes, pulls,
// mounts and deletes are acknowledged and ignored, so the registry does
// not retry them. Bodies are bounded (MaxHookBody); a bigger one gets 413,
// malformed JSON 400, and a queue that cannot take the work 503 (the
// registry retries: its delivery is at-least-once, and enqueueing the
// same push twice is harmless because the fleet's jobs are unique).
//
// # Metrics
//
// NewMetrics registers the collectors that workers update in process:
//
//	strata_scan_duration_seconds{phase}   histogram of scan phases (scan_layer, assemble_image, ...)
//	strata_worker_layers_scanned_total    layers this process walked
//	strata_worker_bytes_read_total        layer bytes this process read
//
// Workers take the same *Metrics through an interface of their own
// (ObserveScan(phase string, d time.Duration), LayerScanned(n int64)), so
// the fleet package need not import this one; the handler takes it in
// Config.Metrics. A serve process wires it as:
//
//	reg := prometheus.NewRegistry()
//	m, err := web.NewMetrics(reg)
//	// fleet.New(ctx, fleet.Config{..., Metrics: m})
//	h, err := web.NewHandler(web.Config{Store: st, Queue: svc, WebhookSecret: secret,
//		Logger: log, Registerer: reg, Metrics: m})
//
// A worker-only process serves NewWorkerHandler (/healthz, /readyz and
// /metrics, the latter behind the token) so that each worker's own
// latencies, reads and memory can be scraped too. At scrape time the
// handler adds the fleet-wide values, read from the queue
// and the store (shared by every process, so they are right with any
// number of workers):
//
//	strata_jobs{state}                    River jobs by state
//	strata_layers_scanned                 distinct layers with a stored result
//	strata_bytes_read                     bytes of those layers
//	strata_findings{severity}             open findings in the store, by severity
//
// No secret value is ever served: findings carry the redacted match and
// the fingerprint (sha256 of the value) only, as the store keeps them.
package web
