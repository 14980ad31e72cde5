package secret

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Confidence levels of a finding, highest first.
const (
	// ConfidenceFormat: the value matched a provider's exact token format
	// (distinctive prefix or marker, fixed length and alphabet) or checksum.
	ConfidenceFormat = "format"
	// ConfidenceKeyword: a keyword (a variable or key name, a file's syntax)
	// plus the value's shape or entropy; more false positives.
	ConfidenceKeyword = "keyword"
)

// ConfidenceRank orders confidences: format 2, keyword 1, other 0.
func ConfidenceRank(c string) int {
	switch strings.ToLower(c) {
	case ConfidenceFormat:
		return 2
	case ConfidenceKeyword:
		return 1
	}
	return 0
}

// ContextExample is Match.Context for a finding in documentation, test
// fixtures or examples shipped by an installed package.
const ContextExample = "example"

// gitleaksConfidence overrides the inferred confidence of gitleaks rules
// (inferConfidence: a literal prefix of three bytes or more is "format").
var gitleaksConfidence = map[string]string{
	"private-key":            ConfidenceFormat,
	"jwt":                    ConfidenceKeyword, // "ey" + base64: any JSON object encoded
	"jwt-base64":             ConfidenceKeyword,
	"curl-auth-user":         ConfidenceKeyword,
	"nuget-config-password":  ConfidenceKeyword,
	"kubernetes-secret-yaml": ConfidenceKeyword,
	"hashicorp-tf-password":  ConfidenceKeyword,
	"sidekiq-sensitive-url":  ConfidenceKeyword,
}

// gitleaksValidators attach strata's checksum validators to gitleaks rules
// whose provider format carries a checksum.
var gitleaksValidators = map[string]string{
	"github-pat":           "github-crc32",
	"github-oauth":         "github-crc32",
	"github-app-token":     "github-crc32",
	"github-refresh-token": "github-crc32",
	"npm-access-token":     "github-crc32",
}

// startLiterals returns the literal prefixes every match of re starts with
// (lowercased), after an optional leading \b (boundary true); ok is false
// when the regex does not start with such literals (a lead such as
// "[\w.-]{0,50}?", a line anchor, an alternation with a non-literal branch).
func startLiterals(re *regexp.Regexp) (ps []string, boundary, ok bool) {
	if re == nil {
		return nil, false, false
	}
	sre, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil, false, false
	}
	subs := []*syntax.Regexp{sre}
	if sre.Op == syntax.OpConcat {
		subs = sre.Sub
	}
	if len(subs) > 0 && subs[0].Op == syntax.OpWordBoundary {
		boundary, subs = true, subs[1:]
	}
	if len(subs) == 0 {
		return nil, false, false
	}
	body := subs[0]
	if len(subs) > 1 {
		body = &syntax.Regexp{Op: syntax.OpConcat, Flags: sre.Flags, Sub: subs}
	}
	ps, _, ok = prefixes(body)
	if !ok || len(ps) == 0 {
		return nil, false, false
	}
	return ps, boundary, true
}

// inferConfidence classifies a rule without an explicit confidence: a
// regex that starts with distinctive literals (ghp_, xoxb-, AKIA, sk-ant-;
// three bytes or more) matches a provider format, anything else is keyword.
func (r *rule) inferConfidence() string {
	if r.re == nil {
		return ConfidenceKeyword // path-only rules: a file name
	}
	ps, _, ok := startLiterals(r.re)
	if !ok {
		return ConfidenceKeyword
	}
	for _, p := range ps {
		if len(p) < 3 {
			return ConfidenceKeyword
		}
	}
	return ConfidenceFormat
}

// needsPrefixBoundary reports whether a match of r must not follow a letter
// or digit: r is a format rule whose regex starts with a token prefix
// (ghp_, glpat-, xoxb-) that begins with one and does not already require
// \b. "Sogho_..." is not a GitHub OAuth token.
func (r *rule) needsPrefixBoundary() bool {
	if r.Confidence != ConfidenceFormat {
		return false // key names: MY_TWILIO_TOKEN, myAppSecret
	}
	ps, boundary, ok := startLiterals(r.re)
	if !ok || boundary {
		return false
	}
	for _, p := range ps {
		if len(p) < 3 || !isAlnum(p[0]) {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// placeholderWords are values that stand for a secret in templates and
// documentation, compared case-insensitively with the whole value.
var placeholderWords = map[string]bool{
	"changeme": true, "change_me": true, "change-me": true, "changeit": true, "changethis": true,
	"password": true, "passwd": true, "pass": true, "secret": true, "token": true, "apikey": true,
	"api_key": true, "api-key": true, "example": true, "placeholder": true, "dummy": true,
	"test": true, "testing": true, "redacted": true, "foobar": true, "foo": true, "bar": true,
	"none": true, "null": true, "nil": true, "undefined": true, "empty": true, "todo": true,
	"fixme": true, "secretkey": true, "secret_key": true, "mysecret": true, "mypassword": true,
	"yourpassword": true, "your_password": true, "password123": true, "s3cr3t": true,
}

// awsExampleKeys are the access key pair of AWS's documentation.
var awsExampleKeys = []string{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

// isPlaceholder reports whether secret is an obvious stand-in rather than a
// value: AWS's documentation keys, anything containing "example", template
// references (${VAR}, {{ .x }}, <your-key>, %VAR%), placeholder words, runs
// of x or *, a single repeated character, or a counting sequence.
func isPlaceholder(secret string) bool {
	s := strings.Trim(secret, `"'`+"`")
	if s == "" {
		return false
	}
	for _, k := range awsExampleKeys {
		if strings.Contains(s, k) {
			return true
		}
	}
	l := strings.ToLower(s)
	if placeholderWords[l] || strings.Contains(l, "example") {
		return true
	}
	for _, p := range []string{"your_", "your-", "yourkey", "your.", "insert_", "insert-", "replace_", "replace-", "enter_", "enter-", "<your", "put_your"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	wrapped := func(open, close string) bool {
		return len(s) >= len(open)+len(close)+1 && strings.HasPrefix(s, open) && strings.HasSuffix(s, close)
	}
	if wrapped("${", "}") || wrapped("{{", "}}") || wrapped("<", ">") || wrapped("%", "%") || wrapped("@", "@") || wrapped("$(", ")") ||
		(wrapped("[", "]") || wrapped("{", "}")) && isVarName(strings.Trim(s[1:len(s)-1], " ")) {
		return true
	}
	if s[0] == '$' && isIdent(s[1:]) {
		return true // $VAR
	}
	for _, run := range []string{"xxxxx", "XXXXX", "*****", "....", "<redacted", "0123456789", "1234567890", "abcdefghij", "ABCDEFGHIJ"} {
		if strings.Contains(s, run) {
			return true
		}
	}
	if len(s) >= 6 && strings.Count(s, s[:1]) == len(s) {
		return true
	}
	return false
}

// isVarName reports whether s is an identifier in one letter case
// (password, db_password, DB_PASSWORD), as template variables are; a
// random mixed-case value is not.
func isVarName(s string) bool {
	return isIdent(s) && (s == strings.ToLower(s) || s == strings.ToUpper(s))
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// examplePaths are documentation, test-fixture and example trees of
// installed packages: system documentation, and test/example/doc
// directories inside language package trees (Python site/dist-packages,
// node_modules, Ruby gems and stdlib, Perl, PHP, Go module caches, Java
// and vendored trees). Values there are overwhelmingly samples.
var examplePaths = regexp.MustCompile(`(?i)(?:^|[/!])usr/(?:local/)?share/(?:doc|man|info|help|gtk-doc|javadoc|devhelp|licenses|common-licenses)/` +
	`|(?:^|[/!])(?:usr/(?:local/)?(?:lib|lib64|share)/(?:python[\d.]*|ruby|perl5?|php|node|nodejs|jvm|go[\w.-]*|gems|java)|[^!]*?(?:site-packages|dist-packages|node_modules|/gems/|/vendor/|pkg/mod/|\.m2/repository|\.cargo/registry))` +
	`(?:/[^/!]+)*?/(?:tests?|testing|testdata|test[_-]data|fixtures?|__tests__|__fixtures__|__mocks__|mocks?|specs?|examples?|samples?|demos?|docs?|documentation|t)/`)

// exampleContext reports whether path is in an installed package's
// documentation, tests or examples (see examplePaths).
func exampleContext(path string) bool { return examplePaths.MatchString(path) }

// annotate sets a finding's confidence, validation and context from its
// rule, its validator's verdict and its path.
func annotate(m *Match, r *rule) {
	m.Confidence = r.Confidence
	checked := false
	if r.Validator != "" {
		v := validators[r.Validator]
		if v.check(m.Secret) {
			m.Validation = r.Validator + ": valid"
			checked = v.checksum
		} else {
			m.Validation = r.Validator + ": invalid"
			m.Confidence = ConfidenceKeyword
			m.Severity = SeverityLow
		}
	}
	if exampleContext(m.Path) {
		m.Context = ContextExample
		if !checked {
			m.Severity = SeverityLow
		}
	}
}

// installedTrees are where distributions and language package managers
// install code (also inside a package archive: x.deb!data.tar.xz!usr/lib/...):
// its comments are API documentation, not configuration.
var installedTrees = regexp.MustCompile(`(?:^|!)(?:\./)?(?:usr/(?:local/)?(?:lib|lib64|libexec|share|include)/|opt/[^/]+/(?:lib|share|include)/)|(?:^|/)(?:site-packages|dist-packages|node_modules|gems)/`)

// commentLeads start a comment line in the languages installed packages
// ship (shell, Python, Ruby, Perl and POD, C and its family, SQL, Lisp,
// Erlang/TeX, XML/HTML).
var commentLeads = []string{"#", "//", "/*", "*", "--", ";", "%", "<!--", "=for ", "=item", "=head", "=over", "=begin", "dnl "}

// installedComment reports whether line is a comment line in a file of an
// installed package's tree. It runs per candidate finding, so it checks
// the line's first bytes before the path, without allocating.
func installedComment(path string, line []byte) bool {
	l := bytes.TrimLeft(line, " \t")
	for _, c := range commentLeads {
		if bytes.HasPrefix(l, []byte(c)) {
			return installedTrees.MatchString(path)
		}
	}
	return false
}
