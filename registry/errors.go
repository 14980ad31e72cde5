package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/stratascan/strata/content"
)

// Sentinel errors. A *StatusError wraps at most one of these (or
// content.ErrNotFound for 404); match them with errors.Is.
var (
	// ErrUnauthorized: the registry refused the credentials (401) or the
	// account lacks permission (403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnsupported: the registry does not allow this operation, typically
	// DELETE when storage.delete.enabled is false (405 UNSUPPORTED), or a tag
	// DELETE on distribution 2.8 (400).
	ErrUnsupported = errors.New("operation not supported by this registry")
	// ErrTooManyRequests: the registry kept answering 429 after all retries.
	ErrTooManyRequests = errors.New("too many requests")
	// ErrInsecureRefused: the registry only answered over plain HTTP and
	// Options.Insecure is not set.
	ErrInsecureRefused = errors.New("plain HTTP refused")
)

// StatusError is an unexpected HTTP status from a registry.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	// Codes are the distribution error codes of the body
	// ({"errors":[{"code":"MANIFEST_UNKNOWN",...}]}), in order.
	Codes []string
	// Message is the first error message of the body, or the body text (capped)
	// when it is not a distribution error document.
	Message string

	kind error // sentinel this error wraps (nil: none)
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if len(e.Codes) > 0 || e.Message != "" {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Codes, ", "))
		if len(e.Codes) > 0 && e.Message != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Message)
		b.WriteString(")")
	}
	switch e.kind {
	case content.ErrNotFound:
		b.WriteString(": not found; check the repository name, tag or digest")
	case ErrUnauthorized:
		if e.StatusCode == http.StatusForbidden {
			b.WriteString(": access denied; the account lacks permission for this repository or action")
		} else {
			b.WriteString(": authentication required or refused; check the credentials given, or run docker login for this registry")
		}
	case ErrUnsupported:
		b.WriteString(": delete disabled or not supported by this registry (distribution: storage.delete.enabled; 2.8 cannot delete tags, delete by digest instead)")
	case ErrTooManyRequests:
		b.WriteString(": rate limited even after retries; wait and retry later, or authenticate for a higher limit")
	default:
		if e.StatusCode >= 500 {
			b.WriteString(": the registry failed even after retries; retry later or check the registry's logs")
		}
	}
	return b.String()
}

// Unwrap returns the sentinel this error stands for.
func (e *StatusError) Unwrap() error { return e.kind }

// HasCode reports whether the registry sent the distribution error code c.
func (e *StatusError) HasCode(c string) bool {
	for _, x := range e.Codes {
		if x == c {
			return true
		}
	}
	return false
}

const maxErrorBody = 64 << 10

// newStatusError builds a StatusError from a response whose body has been
// read (at most maxErrorBody bytes) into body.
func newStatusError(method string, u *url.URL, status int, body []byte) *StatusError {
	e := &StatusError{Method: method, URL: redactURL(u), StatusCode: status}
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		for _, x := range doc.Errors {
			e.Codes = append(e.Codes, x.Code)
			if e.Message == "" {
				e.Message = x.Message
			}
		}
	} else {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		e.Message = msg
	}
	e.kind = errorKind(method, status, e.Codes)
	return e
}

func errorKind(method string, status int, codes []string) error {
	unsupported := false
	for _, c := range codes {
		if c == "UNSUPPORTED" {
			unsupported = true
		}
	}
	switch {
	case status == http.StatusNotFound:
		return content.ErrNotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusTooManyRequests:
		return ErrTooManyRequests
	case unsupported || status == http.StatusMethodNotAllowed:
		return ErrUnsupported
	case status == http.StatusBadRequest && method == http.MethodDelete:
		return ErrUnsupported
	}
	return nil
}

func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	return c.String()
}

// Default caps on listings (Options.MaxRepos, Options.MaxTags).
const (
	DefaultMaxRepos = 10000
	DefaultMaxTags  = 10000
)

// ErrListTooLong is wrapped by every ListLimitError.
var ErrListTooLong = errors.New("listing over its cap")

// ListLimitError reports a catalog or tag listing that went past its cap
// (a registry with a million tags, or one whose pagination never ends).
type ListLimitError struct {
	What  string // "repositories" or "tags"
	Of    string // the registry (catalog) or repository (tags)
	Limit int
}

func (e *ListLimitError) Error() string {
	return fmt.Sprintf("%v: %s lists more than %d %s; strata stopped there: raise the cap on %s if the listing is genuine", ErrListTooLong, e.Of, e.Limit, e.What, e.What)
}

// Unwrap lets errors.Is(err, ErrListTooLong) match.
func (e *ListLimitError) Unwrap() error { return ErrListTooLong }
