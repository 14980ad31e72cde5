package registrytest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Endpoint is one entry of the registry's notifications.endpoints: the
// registry POSTs an envelope of events (media type
// application/vnd.docker.distribution.events.v1+json) to URL after pushes,
// pulls, mounts and deletes, with Headers added to every request. Delivery
// is at-least-once: while the endpoint fails the registry retries, and after
// Threshold failures it backs off for Backoff. Both distribution 2.8 and
// v3 read this shape (docs/content/about/notifications.md).
type Endpoint struct {
	// Name identifies the endpoint in the registry's logs (default "strata").
	Name string
	// URL receives the POSTs, e.g. "http://127.0.0.1:PORT/hook".
	URL string
	// Headers are static request headers, e.g. an Authorization bearer.
	Headers http.Header
	// Timeout bounds one POST (default 2s).
	Timeout time.Duration
	// Threshold is the number of failures before backing off (default 3).
	Threshold int
	// Backoff is how long the registry waits after Threshold failures
	// (default 250ms).
	Backoff time.Duration
	// IgnoredMediaTypes lists target media types whose events are not sent.
	IgnoredMediaTypes []string
	// IgnoreActions lists actions (pull, push, mount, delete) whose events
	// are not sent.
	IgnoreActions []string
}

func (e Endpoint) withDefaults() Endpoint {
	if e.Name == "" {
		e.Name = "strata"
	}
	if e.Timeout == 0 {
		e.Timeout = 2 * time.Second
	}
	if e.Threshold == 0 {
		e.Threshold = 3
	}
	if e.Backoff == 0 {
		e.Backoff = 250 * time.Millisecond
	}
	return e
}

// notificationsYAML renders the notifications section of config.yml
// ("" when there is no endpoint). Strings are written double-quoted, which
// YAML reads like Go's %q for the ASCII values tests use.
func notificationsYAML(eps []Endpoint) string {
	if len(eps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("notifications:\n  endpoints:\n")
	for _, e := range eps {
		e = e.withDefaults()
		fmt.Fprintf(&b, "    - name: %q\n      url: %q\n", e.Name, e.URL)
		fmt.Fprintf(&b, "      timeout: %s\n      threshold: %d\n      backoff: %s\n", e.Timeout, e.Threshold, e.Backoff)
		if len(e.Headers) > 0 {
			b.WriteString("      headers:\n")
			keys := make([]string, 0, len(e.Headers))
			for k := range e.Headers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "        %q: %s\n", k, yamlList(e.Headers[k]))
			}
		}
		if len(e.IgnoredMediaTypes) > 0 {
			fmt.Fprintf(&b, "      ignoredmediatypes: %s\n", yamlList(e.IgnoredMediaTypes))
		}
		if len(e.IgnoreActions) > 0 {
			fmt.Fprintf(&b, "      ignore:\n        actions: %s\n", yamlList(e.IgnoreActions))
		}
	}
	return b.String()
}

func yamlList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
