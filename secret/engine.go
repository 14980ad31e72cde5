package secret

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// engineVersion is part of RulesetHash: bump it whenever a change to the
// matching logic can change what is found, so cached results are not reused.
const engineVersion = "strata-secret-engine/4"

// Defaults for Options fields left zero.
const (
	DefaultMaxFileBytes    int64 = 256 << 20
	DefaultFileTimeout           = 10 * time.Second
	DefaultMaxArchiveDepth       = 2
	DefaultMaxArchiveBytes int64 = 1 << 30
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	RulesFiles      []string      // extra rules in gitleaks' TOML format (plus "severity")
	Patterns        []string      // one-off regexes, rules custom-pattern-1, -2, ...
	IgnoreFile      string        // fingerprint:/rule:/path: lines
	ScanBinaries    bool          // scan the content of binary files too
	MaxFileBytes    int64         // per-file cap on bytes scanned (default 256 MiB)
	FileTimeout     time.Duration // per-file bound on scanning time (default 10 s)
	MaxArchiveDepth int           // nesting depth of archives to open (default 2; negative: none)
	MaxArchiveBytes int64         // decompressed bytes read from one top-level archive (default 1 GiB)
	Logger          *slog.Logger  // nil: discard
}

// Match is one finding.
type Match struct {
	RuleID, Description, Severity string
	// Path is the file path (archive members as outer.zip!inner/file) or the
	// location given to ScanText.
	Path string
	// Line is the 1-based line of the start of the match; 0 for findings
	// about a whole file (path-only rules such as keystores).
	Line int
	// Secret is the exact secret value (the rule's secret group or the whole
	// match; for path-only rules, empty). Print it only on explicit request.
	Secret string
	// Redacted is the match with every occurrence of the secret replaced by
	// "<redacted:N chars>"; it never contains the secret.
	Redacted string
	// Fingerprint is "sha256:"+hex(sha256(Secret)); for path-only rules the
	// sha256 of the file content.
	Fingerprint string
	// Entropy is the Shannon entropy of Secret in bits per character.
	Entropy float64
	// Confidence is ConfidenceFormat when the value matched a provider's
	// exact format (and its checksum, where the format has one),
	// ConfidenceKeyword for keyword (+ entropy) matches and for values
	// that fail their format's checksum.
	Confidence string
	// Validation is the rule's validator and its verdict ("github-crc32:
	// valid" or ": invalid"), empty when the rule has none. A value that
	// fails its checksum is reported with severity low.
	Validation string
	// Context is ContextExample when the file is documentation, a test
	// fixture or an example of an installed package: the severity is then
	// low, unless the value passed a checksum (Validation says so).
	Context string
	// Encoding says how the secret was encoded where it was found, outermost
	// first, joined with "+": "base64", "base64url", "percent",
	// "json-escape", "utf-16le", "utf-16be" (e.g. "utf-16le+base64");
	// empty for plain text. Secret, Redacted and Fingerprint are of the
	// decoded value; Line is the line of the encoded text.
	Encoding string `json:",omitempty"`
}

// FileStats says what ScanFile did with one file.
type FileStats struct {
	Bytes          int64  // bytes of content scanned (archive members included)
	Binary         bool   // the content looked binary
	Skipped        bool   // the content was not scanned
	SkipReason     string // why it was skipped, or (with Skipped false) why it was only partly scanned
	TimedOut       bool   // FileTimeout hit: the rest of the file was not scanned
	ArchiveMembers int    // archive members opened (recursively)
}

// Engine is a ruleset. It is safe for concurrent use.
//
// New is cheap: it reads and checks the rules files, patterns and ignore
// file the options name and computes RulesetHash from the rule sources, but
// the built-in rules (gitleaks' default config and strata's own, about 250
// regexes) and the keyword prefilter are compiled only when first needed
// (ScanFile, ScanText, Wants, Rules) or when Compile is called. A caller
// that finds every result in a cache keyed by RulesetHash never pays for
// them.
type Engine struct {
	opts        Options
	log         *slog.Logger
	user        []*rule // rules files' and patterns' rules, parsed by New
	ignore      *ignoreList
	hash        string
	once        sync.Once
	compileErr  error
	compiled    atomic.Bool
	rules       []*rule
	pf          *prefilter
	kwRules     [][]int32 // keyword id -> rule indexes
	keywordless []int32   // content rules without keywords
	pathOnly    []int32   // rules with a path and no regex
	pool        sync.Pool
}

// New checks opts (rules files and patterns are parsed, so a bad one is an
// ErrBadRules error here) and returns an engine whose built-in rules are
// compiled on first use; see Engine.
func New(opts Options) (*Engine, error) {
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.FileTimeout <= 0 {
		opts.FileTimeout = DefaultFileTimeout
	}
	if opts.MaxArchiveDepth == 0 {
		opts.MaxArchiveDepth = DefaultMaxArchiveDepth
	}
	if opts.MaxArchiveDepth < 0 {
		opts.MaxArchiveDepth = 0
	}
	if opts.MaxArchiveBytes <= 0 {
		opts.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, log: log}
	var sources []string
	for _, f := range opts.RulesFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read rules file: %w", err)
		}
		rs, err := loadTOML(string(b), f, SeverityHigh, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			r.user = true
		}
		e.user = append(e.user, rs...)
		sources = append(sources, "rules-file", string(b))
	}
	for i, p := range opts.Patterns {
		r, err := patternRule(i+1, p)
		if err != nil {
			return nil, err
		}
		r.user = true
		e.user = append(e.user, r)
		sources = append(sources, "pattern", p)
	}
	ign := ""
	if opts.IgnoreFile != "" {
		f, err := os.Open(opts.IgnoreFile)
		if err != nil {
			return nil, fmt.Errorf("open ignore file: %w", err)
		}
		il, err := parseIgnore(f, opts.IgnoreFile)
		f.Close()
		if err != nil {
			return nil, err
		}
		e.ignore = il
		ign = il.text
	}
	e.hash = hashSources(sources, "binaries="+strconv.FormatBool(opts.ScanBinaries),
		"maxfile="+strconv.FormatInt(opts.MaxFileBytes, 10),
		"archdepth="+strconv.Itoa(opts.MaxArchiveDepth),
		"archbytes="+strconv.FormatInt(opts.MaxArchiveBytes, 10),
		"ignore="+ign)
	e.pool.New = func() any { return e.newFileScan() }
	return e, nil
}

// Compile compiles the ruleset now (it is otherwise compiled on first
// use) and returns the error that makes the engine unusable, if any; later
// calls return the same result at no cost. Pipelines call it before their
// first scan so that a broken ruleset fails the run instead of every file.
func (e *Engine) Compile() error {
	e.once.Do(func() {
		builtin, err := builtinRules()
		if err != nil {
			e.compileErr = err
			return
		}
		e.build(mergeRules(builtin, e.user))
		e.compiled.Store(true)
	})
	return e.compileErr
}

// Compiled reports whether the ruleset has been compiled (by Compile or a
// first scan); a scan answered entirely from a cache leaves it false.
func (e *Engine) Compiled() bool { return e.compiled.Load() }

// build indexes the effective rules: keyword prefilter, keyword-less and
// path-only rules.
func (e *Engine) build(rules []*rule) {
	e.rules = rules
	kwID := map[string]int32{}
	var kws []string
	for i, r := range rules {
		switch {
		case r.re == nil:
			e.pathOnly = append(e.pathOnly, int32(i))
		case len(r.Keywords) == 0:
			e.keywordless = append(e.keywordless, int32(i))
		default:
			seen := map[string]bool{}
			for _, k := range r.Keywords {
				if k == "" || seen[k] {
					continue
				}
				seen[k] = true
				id, ok := kwID[k]
				if !ok {
					id = int32(len(kws))
					kwID[k] = id
					kws = append(kws, k)
					e.kwRules = append(e.kwRules, nil)
				}
				e.kwRules[id] = append(e.kwRules[id], int32(i))
			}
		}
	}
	e.pf = newPrefilter(kws)
	e.log.Debug("secret rules compiled", "rules", len(rules), "keywords", len(kws), "ruleset", e.hash)
}

// RulesetHash is a sha256 over the sources of the effective rules (gitleaks'
// default config text and module version, strata's rules and allowlist
// additions, the rules files' bytes, the patterns), the engine version and
// every option that changes what is found (binary scanning, size and archive
// limits, ignore file); use it in cache keys. It is known without compiling
// the rules.
func (e *Engine) RulesetHash() string { return e.hash }

// Rules lists the effective rules in load order.
func (e *Engine) Rules() []RuleInfo {
	if e.Compile() != nil {
		return nil
	}
	out := make([]RuleInfo, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.RuleInfo
		out[i].Keywords = append([]string(nil), r.Keywords...)
	}
	return out
}

// ScanText scans an in-memory text (config Env joined with newlines, a
// label, a history entry, an attestation) under a location name such as
// "config:env" or "config:history[3]". Rules with a path regex apply when it
// matches the location; path-only rules never do.
//
// Options.FileTimeout bounds it too; a text cut short by it, or not scanned
// because the ruleset does not compile (see Compile), is reported only
// through the Logger.
func (e *Engine) ScanText(ctx context.Context, location string, text string, emit func(Match)) {
	if err := e.Compile(); err != nil {
		e.log.Warn("text not scanned", "location", location, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.FileTimeout)
	defer cancel()
	fs := e.getFileScan()
	defer e.pool.Put(fs)
	fs.begin(ctx, location, emit, false)
	pooled := fs.buf[:0]
	defer func() { fs.buf = pooled }() // never keep a large text's buffer in the pool
	buf := pooled
	if len(text) > cap(buf) {
		buf = make([]byte, 0, len(text))
	}
	buf = append(buf, text...)
	fs.scanBuffer(buf, 0, len(buf))
	if fs.err != nil {
		e.log.Warn("text scan cut short", "location", location, "err", fs.err)
	}
	fs.finish()
}

// ScanFile scans one file's content read from r (size is the expected size,
// or -1 when unknown). Findings go to emit, in order of position within each
// archive member. Binary files are skipped unless Options.ScanBinaries, but
// path-only rules and archive recursion still apply. ScanFile may return
// before reading r to its end (binary files, limits, timeouts): a caller that
// needs the stream drained (to verify a digest) must drain it itself.
//
// The error is non-nil only when reading r fails, ctx is cancelled or the
// ruleset does not compile; limits and timeouts are reported in FileStats.
func (e *Engine) ScanFile(ctx context.Context, path string, size int64, r io.Reader, emit func(Match)) (FileStats, error) {
	var st FileStats
	if err := e.Compile(); err != nil {
		return st, err
	}
	budget := e.opts.MaxArchiveBytes
	fctx, cancel := context.WithTimeout(ctx, e.opts.FileTimeout)
	defer cancel()
	err := e.scanFile(fctx, path, size, r, emit, 0, &budget, &st)
	if err != nil && fctx.Err() != nil && ctx.Err() == nil {
		// our own per-file deadline, not the caller's cancellation
		st.TimedOut = true
		if st.SkipReason == "" {
			st.SkipReason = fmt.Sprintf("timed out after %s", e.opts.FileTimeout)
		}
		return st, nil
	}
	if err != nil && ctx.Err() != nil {
		return st, ctx.Err()
	}
	return st, err
}

// SniffLen is how many leading bytes Wants needs.
const SniffLen = sniffLen

// Wants reports whether ScanFile would read past head, the first SniffLen
// bytes (or all, if shorter) of a file at path: false for binary content
// it would skip when no path-only rule (keystores) applies. A pipeline can
// then skip such files without copying them.
func (e *Engine) Wants(path string, head []byte) bool {
	k, _ := sniff(head)
	if k != kindBinary || e.opts.ScanBinaries || e.Compile() != nil {
		return true // (a ruleset that does not compile: ScanFile reports it)
	}
	for _, ri := range e.pathOnly {
		rl := e.rules[ri]
		if (rl.pathNeed == nil || containsAnyFold(path, rl.pathNeed)) && rl.path.MatchString(path) && !pathAllowed(rl, path) {
			return true
		}
	}
	return false
}

// Ignored reports whether the ignore file suppresses m; ScanFile and
// ScanText already drop ignored findings, this is for results kept elsewhere.
func (e *Engine) Ignored(m Match) bool { return e.ignore.ignored(&m) }
