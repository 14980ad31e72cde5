package secret

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	glconfig "github.com/zricethezav/gitleaks/v8/config"
)

// Window and buffer geometry. A keyword hit's rules run on the hit's line
// (plus the next line for rules that can match a newline), clipped to
// windowSide bytes either side of the hit; rules that can match long runs
// across lines get [hit-windowSide, hit+wideAfter]. Files stream through a
// buffer of chunkSize new bytes, keeping keepBefore bytes of history and
// holding back keepAfter bytes so that every window of a hit lies inside the
// buffer that processes it.
const (
	windowSide = 4 << 10
	wideAfter  = 12 << 10
	chunkSize  = 1 << 20
	keepBefore = windowSide
	keepAfter  = 16 << 10
	bufCap     = keepBefore + chunkSize + keepAfter
)

type pending struct {
	on   bool
	s, e int
}

type found struct {
	ri         int32
	start, end int64 // absolute match bounds
	secStart   int64 // absolute start of the secret
	secret     string
	match      string
	line       int
}

// fileScan is the per-file state of one scan; pooled.
type fileScan struct {
	e          *Engine
	ctx        context.Context
	path       string
	emit       func(Match)
	applicable []uint8 // per rule: 0 unknown, 1 applies, 2 does not
	aWork      []int   // per rule: bytes of anchored runs in this buffer
	ends       []int   // line ends after the current hit
	aTouched   []int32
	lastEnd    []int64
	touched    []int32
	pend       []pending
	active     []int32
	hits       []hit
	found      []found
	buf        []byte
	base       int64
	state      uint32
	curPos     int64
	curLine    int
	runs       int
	err        error
	alCache    map[*glconfig.Allowlist]bool
	rr         bytes.Reader
	dec        decodeState // decode.go
}

func (e *Engine) newFileScan() any {
	n := len(e.rules)
	return &fileScan{
		e:          e,
		applicable: make([]uint8, n),
		aWork:      make([]int, n),
		lastEnd:    make([]int64, n),
		pend:       make([]pending, n),
		buf:        make([]byte, 0, bufCap),
		alCache:    map[*glconfig.Allowlist]bool{},
	}
}

func (e *Engine) getFileScan() *fileScan { return e.pool.Get().(*fileScan) }

// pathSkips reports whether allowlist a excludes the whole file at path.
func pathSkips(a *glconfig.Allowlist, path string) bool {
	if len(a.Paths) == 0 {
		return false
	}
	if a.MatchCondition == glconfig.AllowlistMatchAnd {
		if len(a.Regexes) > 0 || len(a.StopWords) > 0 || len(a.Commits) > 0 {
			return false // decided per finding
		}
	}
	return a.PathAllowed(path)
}

// begin resets fs for a new file or text. Which rules apply to path is
// decided lazily (applies), at a rule's first keyword hit in the file.
func (fs *fileScan) begin(ctx context.Context, path string, emit func(Match), _ bool) {
	fs.ctx, fs.path, fs.emit = ctx, path, emit
	fs.base, fs.state, fs.curPos, fs.curLine, fs.runs, fs.err = 0, 0, 0, 1, 0, nil
	for _, ri := range fs.touched {
		fs.lastEnd[ri] = 0
	}
	fs.touched = fs.touched[:0]
	fs.dec.reset()
	clear(fs.alCache)
	clear(fs.applicable)
}

// applies reports whether rule ri runs on this file: it has a regex and its
// path regex, if any, matches. Path allowlists are checked per finding
// (pathExcluded), which gives the same result as skipping the file but
// costs nothing for files without findings.
func (fs *fileScan) applies(ri int32) bool {
	switch fs.applicable[ri] {
	case 1:
		return true
	case 2:
		return false
	}
	r := fs.e.rules[ri]
	ok := r.re != nil && (r.path == nil || (r.pathNeed == nil || containsAnyFold(fs.path, r.pathNeed)) && r.path.MatchString(fs.path))
	if ok {
		fs.applicable[ri] = 1
	} else {
		fs.applicable[ri] = 2
	}
	return ok
}

// pathExcluded reports whether a path allowlist of r (or of its source)
// excludes this file.
func (fs *fileScan) pathExcluded(r *rule) bool {
	for _, as := range [2][]*glconfig.Allowlist{r.global, r.allow} {
		for _, a := range as {
			v, ok := fs.alCache[a]
			if !ok {
				v = pathSkips(a, fs.path)
				fs.alCache[a] = v
			}
			if v {
				return true
			}
		}
	}
	return false
}

func (fs *fileScan) finish() {
	fs.ctx, fs.emit = nil, nil
	fs.hits = fs.hits[:0]
	fs.found = fs.found[:0]
}

// scanBuffer processes keyword hits starting in buf[from:limit] (the DFA
// state carries over from the previous call), runs the triggered rules on
// their windows and emits the findings.
func (fs *fileScan) scanBuffer(buf []byte, from, limit int) {
	fs.buf = buf
	if from >= limit {
		return
	}
	e := fs.e
	fs.state, fs.hits = e.pf.scan(buf, from, limit, fs.state, fs.hits[:0])
	for _, ri := range fs.aTouched {
		fs.aWork[ri] = 0
	}
	fs.aTouched = fs.aTouched[:0]
	budget := 2*(limit-from) + 64<<10
	n := len(buf)
	lineS, lineE := -1, -1
	ends := fs.ends[:0]
	for _, h := range fs.hits {
		p := h.pos
		if p < 0 {
			p = 0
		}
		if !(p >= lineS && p < lineE) {
			lo := max(0, p-windowSide)
			lineS = lo
			if i := bytes.LastIndexByte(buf[lo:p], '\n'); i >= 0 {
				lineS = lo + i + 1
			}
			hi := min(n, p+windowSide)
			lineE = hi
			if i := bytes.IndexByte(buf[p:hi], '\n'); i >= 0 {
				lineE = p + i
			}
			ends = append(ends[:0], lineE)
		}
		// linesAfter is the end of the k-th line after the hit's, within
		// windowSide of the hit (ends are computed once per hit).
		linesAfter := func(k int) int {
			hi := min(n, p+windowSide)
			for len(ends) <= k {
				last := ends[len(ends)-1]
				next := hi
				if last < hi {
					if i := bytes.IndexByte(buf[last+1:hi], '\n'); i >= 0 {
						next = last + 1 + i
					}
				}
				ends = append(ends, next)
			}
			return ends[k]
		}
		for _, ri := range e.kwRules[h.kw] {
			if !fs.applies(ri) {
				continue
			}
			r := e.rules[ri]
			if r.anchor != nil && r.anchor.re != nil && fs.aWork[ri] < budget {
				// Anchored runs cost up to their window each; once a rule has
				// spent its budget in this buffer (pathological input: a long
				// line full of keywords), it falls back to merged windows,
				// which are linear in the buffer.
				end := lineE
				switch {
				case r.wide:
					end = min(n, p+wideAfter)
				case r.multiline:
					end = linesAfter(r.maxNL)
				}
				fs.runAnchored(ri, r, p, end)
				continue
			}
			switch {
			case r.wide:
				fs.addWindow(ri, max(0, p-windowSide), min(n, p+wideAfter))
			case r.multiline:
				// the match may start up to maxNL lines before the hit's
				s := lineS
				lo := max(0, p-windowSide)
				for k := 0; k < r.maxNL && s > lo; k++ {
					i := bytes.LastIndexByte(buf[lo:s-1], '\n')
					if i < 0 {
						s = lo
						break
					}
					s = lo + i + 1
				}
				fs.addWindow(ri, s, linesAfter(r.maxNL))
			default:
				fs.addWindow(ri, lineS, lineE)
			}
		}
		if fs.err != nil {
			break
		}
	}
	fs.ends = ends[:0]
	// Rules without keywords run on every line of the region.
	if len(e.keywordless) > 0 && fs.err == nil {
		s := from
		if i := bytes.LastIndexByte(buf[max(0, from-windowSide):from], '\n'); i >= 0 {
			s = max(0, from-windowSide) + i + 1
		} else {
			s = max(0, from-windowSide)
		}
		if from == 0 {
			s = 0
		}
		end := limit
		hi := min(n, limit+windowSide)
		if i := bytes.IndexByte(buf[limit-1:hi], '\n'); i >= 0 {
			end = limit - 1 + i
		} else {
			end = hi
		}
		for _, ri := range e.keywordless {
			if !fs.applies(ri) {
				continue
			}
			ee := end
			if e.rules[ri].multiline || e.rules[ri].wide {
				ee = min(n, end+1+windowSide)
			}
			fs.addWindow(ri, s, ee)
		}
	}
	for _, ri := range fs.active {
		pd := &fs.pend[ri]
		if pd.on {
			pd.on = false
			if fs.err == nil {
				fs.run(ri, pd.s, pd.e)
			}
		}
	}
	fs.active = fs.active[:0]
	fs.decodePass(buf, from, limit)
	fs.flushFound()
	fs.flushDecoded()
}

func (fs *fileScan) addWindow(ri int32, s, e int) {
	pd := &fs.pend[ri]
	if pd.on {
		if s <= pd.e {
			if e > pd.e {
				pd.e = e
			}
			if s < pd.s {
				pd.s = s
			}
			return
		}
		fs.run(ri, pd.s, pd.e)
		pd.s, pd.e = s, e
		return
	}
	pd.on, pd.s, pd.e = true, s, e
	fs.active = append(fs.active, ri)
}

// run applies rule ri to buf[s:e].
func (fs *fileScan) run(ri int32, s, e int) {
	if fs.err != nil {
		return
	}
	fs.runs++
	if fs.runs&63 == 0 {
		if err := fs.ctx.Err(); err != nil {
			fs.err = err
			return
		}
	}
	r := fs.e.rules[ri]
	seg := fs.buf[s:e]
	if r.need != nil && !containsAnyFold(seg, r.need) {
		return
	}
	re := r.re
	var ai *anchorInfo
	if r.anchor != nil && r.anchor.body != nil {
		ai = r.anchor
		re = ai.body
	}
	locs := re.FindAllSubmatchIndex(seg, -1)
	for _, loc := range locs {
		for j := range loc {
			if loc[j] >= 0 {
				loc[j] += s
			}
		}
		ms := loc[0]
		if ai != nil {
			floor := max(s, int(fs.lastEnd[ri]-fs.base))
			for k := 0; k < ai.leadMax && ms > floor && ai.lead[fs.buf[ms-1]]; k++ {
				ms--
			}
		}
		fs.consider(ri, r, loc, ms)
	}
}

// runAnchored applies anchored rule ri at keyword hit p, within buf[p:end].
func (fs *fileScan) runAnchored(ri int32, r *rule, p, end int) {
	if fs.base+int64(p) < fs.lastEnd[ri] || fs.err != nil {
		return
	}
	ai := r.anchor
	if !ai.boundaryOK(fs.buf, p) || !ai.guardOK(fs.buf, p, end) {
		return
	}
	if fs.aWork[ri] == 0 {
		fs.aTouched = append(fs.aTouched, ri)
	}
	fs.aWork[ri] += end - p + 64 // only regex runs count toward the budget
	fs.runs++
	if fs.runs&1023 == 0 {
		if err := fs.ctx.Err(); err != nil {
			fs.err = err
			return
		}
	}
	// Through a RuneReader Go's regexp uses its NFA, which stops as soon as
	// no thread survives (a few bytes past the keyword on ordinary text);
	// on a byte slice it would pick the backtracker, which first clears a
	// bitmap the size of the input and explores every path.
	fs.rr.Reset(fs.buf[p:end])
	loc := ai.re.FindReaderSubmatchIndex(&fs.rr)
	if loc == nil {
		return
	}
	for j := range loc {
		if loc[j] >= 0 {
			loc[j] += p
		}
	}
	// restore the optional lead the anchored form dropped
	ms := p
	floor := max(0, int(fs.lastEnd[ri]-fs.base))
	for k := 0; k < ai.leadMax && ms > floor && ai.lead[fs.buf[ms-1]]; k++ {
		ms--
	}
	fs.consider(ri, r, loc, ms)
}

// consider post-processes one regex match: loc holds buffer-relative
// submatch indexes, ms the match start (before any restored lead).
func (fs *fileScan) consider(ri int32, r *rule, loc []int, ms int) {
	seg := fs.buf
	me := loc[1]
	for me > ms && (seg[me-1] == '\n' || seg[me-1] == '\r') {
		me--
	}
	for ms < me && seg[ms] == '\n' {
		ms++
	}
	if ms >= me {
		return
	}
	absStart := fs.base + int64(ms)
	if absStart < fs.lastEnd[ri] {
		return
	}
	ss, se := ms, me
	if len(loc) > 2 {
		if r.SecretGroup > 0 {
			if 2*r.SecretGroup+1 < len(loc) && loc[2*r.SecretGroup] >= 0 {
				ss, se = loc[2*r.SecretGroup], loc[2*r.SecretGroup+1]
			} else {
				return
			}
		} else {
			for g := 1; 2*g+1 < len(loc); g++ {
				if loc[2*g] >= 0 && loc[2*g+1] > loc[2*g] {
					ss, se = loc[2*g], loc[2*g+1]
					break
				}
			}
		}
	}
	for se > ss && (seg[se-1] == '\n' || seg[se-1] == '\r') {
		se--
	}
	if ss >= se {
		return
	}
	// the reported match always covers the secret, so redaction masks all of it
	if ss < ms {
		ms = ss
	}
	if se > me {
		me = se
	}
	if r.prefixBound && ms > 0 && isAlnum(seg[ms-1]) {
		return // a token prefix inside a word ("Sogho_...")
	}
	secret := string(seg[ss:se])
	if isPlaceholder(secret) {
		return
	}
	ent := shannon(secret)
	if r.Entropy > 0 && ent <= r.Entropy {
		return
	}
	match := string(seg[ms:me])
	line := fs.lineText(ms)
	if bytes.Contains(line, []byte("gitleaks:allow")) || bytes.Contains(line, []byte("strata:allow")) {
		return
	}
	if r.docRule && installedComment(fs.path, line) {
		return
	}
	if fs.allowed(r.global, secret, match, line) || fs.allowed(r.allow, secret, match, line) || fs.pathExcluded(r) {
		return
	}
	if fs.lastEnd[ri] == 0 {
		fs.touched = append(fs.touched, ri)
	}
	fs.lastEnd[ri] = fs.base + int64(me)
	fs.found = append(fs.found, found{
		ri: ri, start: absStart, end: fs.base + int64(me),
		secStart: fs.base + int64(ss), secret: secret, match: match,
	})
}

// lineText is the line containing buf[p], at most windowSide bytes either side.
func (fs *fileScan) lineText(p int) []byte {
	buf := fs.buf
	lo := max(0, p-windowSide)
	ls := lo
	if i := bytes.LastIndexByte(buf[lo:p], '\n'); i >= 0 {
		ls = lo + i + 1
	}
	hi := min(len(buf), p+windowSide)
	le := hi
	if i := bytes.IndexByte(buf[p:hi], '\n'); i >= 0 {
		le = p + i
	}
	return buf[ls:le]
}

// allowed evaluates gitleaks allowlists against one finding, as gitleaks'
// checkFindingAllowed does (commits never match: there are none here).
func (fs *fileScan) allowed(as []*glconfig.Allowlist, secret, match string, line []byte) bool {
	for _, a := range as {
		target := secret
		switch a.RegexTarget {
		case "match":
			target = match
		case "line":
			target = string(line)
		}
		regexOK := a.RegexAllowed(target)
		stopOK, _ := a.ContainsStopWord(secret)
		if a.MatchCondition == glconfig.AllowlistMatchAnd {
			ok := true
			if len(a.Commits) > 0 {
				ok = false
			}
			if len(a.Paths) > 0 && !a.PathAllowed(fs.path) {
				ok = false
			}
			if len(a.Regexes) > 0 && !regexOK {
				ok = false
			}
			if len(a.StopWords) > 0 && !stopOK {
				ok = false
			}
			if ok {
				return true
			}
		} else if regexOK || stopOK {
			return true
		}
	}
	return false
}

// lineAt returns the 1-based line number of absolute offset abs, which must
// lie inside the current buffer.
func (fs *fileScan) lineAt(abs int64) int {
	rel := int(abs - fs.base)
	cur := int(fs.curPos - fs.base)
	if rel >= cur {
		fs.curLine += bytes.Count(fs.buf[cur:rel], []byte{'\n'})
	} else {
		fs.curLine -= bytes.Count(fs.buf[rel:cur], []byte{'\n'})
	}
	fs.curPos = abs
	return fs.curLine
}

// flushFound drops duplicate and superseded findings of this buffer step
// and emits the rest in order.
func (fs *fileScan) flushFound() {
	if len(fs.found) == 0 {
		return
	}
	f := fs.found
	sort.SliceStable(f, func(i, j int) bool { return f[i].start < f[j].start })
	for i := range f {
		f[i].line = fs.lineAt(f[i].start)
	}
	rules := fs.e.rules
	keep := make([]bool, len(f))
	for i := range f {
		keep[i] = true
		ri := rules[f[i].ri]
		for j := range f {
			if i == j || f[j].line != f[i].line {
				continue
			}
			rj := rules[f[j].ri]
			// gitleaks: a generic finding gives way to a specific one on the
			// same line whose secret contains it.
			if ri.generic && !rj.generic && strings.Contains(f[j].secret, f[i].secret) {
				keep[i] = false
				break
			}
			// the same secret at the same place from two rules: keep the
			// user's own rule, then the more severe, then the more confident,
			// then the earlier-loaded rule.
			if f[j].secStart == f[i].secStart && f[j].secret == f[i].secret && ri.generic == rj.generic && !(ri.user && !rj.user) {
				si, sj := SeverityRank(ri.Severity), SeverityRank(rj.Severity)
				ci, cj := ConfidenceRank(ri.Confidence), ConfidenceRank(rj.Confidence)
				if rj.user && !ri.user || sj > si || (sj == si && (cj > ci || cj == ci && f[j].ri < f[i].ri)) {
					keep[i] = false
					break
				}
			}
		}
	}
	for i := range f {
		if !keep[i] || fs.dec.givesWay(rules[f[i].ri], f[i].secStart, f[i].secStart+int64(len(f[i].secret))) {
			continue
		}
		r := rules[f[i].ri]
		m := Match{
			RuleID:      r.ID,
			Description: r.Description,
			Severity:    r.Severity,
			Path:        fs.path,
			Line:        f[i].line,
			Secret:      f[i].secret,
			Redacted:    redact(f[i].match, f[i].secret),
			Fingerprint: Fingerprint(f[i].secret),
			Entropy:     shannon(f[i].secret),
		}
		annotate(&m, r)
		fs.deliver(m)
	}
	fs.found = fs.found[:0]
}

func (fs *fileScan) deliver(m Match) {
	if fs.e.ignore.ignored(&m) {
		return
	}
	fs.dec.delivered(&m)
	if fs.emit != nil {
		fs.emit(m)
	}
}

// Fingerprint is strata's fingerprint of a secret value: "sha256:" and the
// hex sha256 of the value. Findings carry it instead of the value, so the
// same secret can be followed everywhere without being stored.
func Fingerprint(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(s[:])
}

// shannon is gitleaks' Shannon entropy (bits per rune).
func shannon(s string) float64 {
	if s == "" {
		return 0
	}
	var ascii [128]int
	var other map[rune]int
	n := 0
	for _, c := range s {
		n++
		if c < 128 {
			ascii[c]++
		} else {
			if other == nil {
				other = map[rune]int{}
			}
			other[c]++
		}
	}
	_ = n
	inv := 1.0 / float64(len(s)) // gitleaks divides by the byte length
	var h float64
	for _, c := range ascii {
		if c > 0 {
			f := float64(c) * inv
			h -= f * math.Log2(f)
		}
	}
	for _, c := range other {
		f := float64(c) * inv
		h -= f * math.Log2(f)
	}
	return h
}

const redactMax = 240

// redact replaces every occurrence of secret in match by a marker that
// only says its length, escapes line breaks and shortens long context. The
// result never contains secret.
func redact(match, secret string) string {
	if secret == "" {
		return match
	}
	marker := fmt.Sprintf("<redacted:%d chars>", utf8.RuneCountInString(secret))
	for _, m := range []string{"[redacted]", "***", "#"} {
		if !strings.Contains(marker, secret) {
			break
		}
		marker = m
	}
	if strings.Contains(marker, secret) {
		return "" // a secret that is part of every marker: show nothing
	}
	out := strings.ReplaceAll(match, secret, marker)
	out = strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", " ").Replace(out)
	if len(out) > redactMax {
		i := max(0, strings.Index(out, marker))
		start := max(0, i-redactMax/2)
		end := min(len(out), i+len(marker)+redactMax/2)
		for start > 0 && !utf8.RuneStart(out[start]) {
			start--
		}
		for end < len(out) && !utf8.RuneStart(out[end]) {
			end++
		}
		s := out[start:end]
		if start > 0 {
			s = "…" + s
		}
		if end < len(out) {
			s += "…"
		}
		out = s
	}
	for range 4 {
		if !strings.Contains(out, secret) {
			return out
		}
		out = strings.ReplaceAll(out, secret, marker)
	}
	if strings.Contains(out, secret) {
		return marker
	}
	return out
}
