package registry_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stratascan/strata/registry"
)

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
		ok     bool
	}{
		{[]string{`</v2/app/tags/list?last=b&n=2>; rel="next"`}, "/v2/app/tags/list?last=b&n=2", true},
		{[]string{`<https://r.example/v2/_catalog?last=x&n=100>; rel=next`}, "https://r.example/v2/_catalog?last=x&n=100", true},
		{[]string{`</a>; rel="prev", </b>; rel="next"`}, "/b", true},
		{[]string{`</a>; rel="prev"`, `</b>; title="x, y"; rel="next"`}, "/b", true},
		{[]string{`</a?x=1,2>; rel="prev next"`}, "/a?x=1,2", true},
		{[]string{`</a>; REL="Next"`}, "/a", true},
		{[]string{`</a>; rel="nextpage"`}, "", false},
		{[]string{`garbage, </c>; rel="next"`}, "/c", true},
		{[]string{``}, "", false},
		{nil, "", false},
		{[]string{`</unterminated; rel="next"`}, "", false},
	} {
		got, ok := registry.NextLink(tc.values)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NextLink(%q) = %q, %v; want %q, %v", tc.values, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzNextLink: any header value parses without panicking, and a returned
// target is the text between a '<' and the next '>' of the input.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{
		`</v2/app/tags/list?last=b&n=2>; rel="next"`,
		`</a>; rel="prev", </b>; rel="next"`,
		`<x>; title="a;b,c"; rel=next`,
		`<<>>; rel="next"`,
		`, , <`,
		`<a>; rel="\"next\""`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := registry.NextLink([]string{s})
		if !ok {
			if got != "" {
				t.Fatalf("not ok but target %q", got)
			}
			return
		}
		if strings.Contains(got, ">") || !strings.Contains(s, "<"+got+">") {
			t.Fatalf("target %q is not a <...> of %q", got, s)
		}
		base, _ := url.Parse("https://r.example/v2/x/tags/list?n=1")
		_, _ = base.Parse(got) // must not panic
	})
}
