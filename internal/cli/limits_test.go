package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
)

// The listing caps are flags of the commands that list: a repository that
// lists tags without end stops at --max-tags with an error that says so.
func TestMaxTagsFlag(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			var tags []string
			for i := range 100 {
				tags = append(tags, fmt.Sprintf("t%03d", i))
			}
			json.NewEncoder(w).Encode(map[string][]string{"tags": tags})
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	_, stderr, code := run(t, "", "scan", "--insecure", "--no-cache", "--all-tags", "--max-tags", "5", ref)
	if code != ExitError || !strings.Contains(stderr, "more than 5 tags") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming the cap", code, stderr)
	}
}

// explain adds the flag that lifts a limit to the library's message.
func TestExplain(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&registry.ListLimitError{What: "tags", Of: "r/app", Limit: 5}, "--max-tags"},
		{&registry.ListLimitError{What: "repositories", Of: "registry r", Limit: 5}, "--max-repos"},
		{fmt.Errorf("GET x: %w", &registry.TimeoutError{Host: "r", Phase: registry.PhaseHeaders, After: time.Second}), "--registry-timeout"},
		{fmt.Errorf("x: %w", registry.ErrCredentialsRefused), "--allow-cross-host-auth"},
		{fmt.Errorf("x: %w", source.ErrNoMatchingPlatform), "--platform"},
	} {
		got := explain(c.err)
		if !strings.Contains(got.Error(), c.want) || !errors.Is(got, c.err) {
			t.Errorf("explain(%v) = %v, want it to name %s and wrap the error", c.err, got, c.want)
		}
	}
	plain := errors.New("plain")
	if explain(plain) != plain {
		t.Error("explain changed an error it has nothing to add to")
	}
}
