package secret

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Anchoring. Most rules' matches begin with one of the rule's keywords
// (ghp_…, AKIA…, ey…, or, after an optional lead such as gitleaks'
// "[\w.-]{0,50}?", one of key|token|secret…). For those, a keyword hit
// runs the regex anchored at the hit (\A(?:rest)) instead of scanning a whole
// line: the NFA then dies within a few bytes on ordinary text. The optional
// lead is restored afterwards by extending the match start to the left.
//
// A rule is anchored only when its regex, after an optional leading \b or
// \B and optional lead repeats of character classes, provably starts with
// one of a finite set of literal prefixes each compatible with a keyword (one
// is a prefix of the other, case-insensitively); otherwise it runs on windows.

type anchorInfo struct {
	re       *regexp.Regexp // anchored body; nil: the rule runs on windows
	body     *regexp.Regexp // unanchored body without the lead, or nil
	boundary int            // +1: stripped leading \b, -1: stripped \B
	lead     [256]bool
	leadMax  int
	guarded  bool
	ops      [256]bool
	value    valueGuard
}

const maxPrefixes = 64

// prefixes returns lowercased strings such that every match of re starts
// with one of them; exact reports that re matches exactly those strings
// (case-insensitively).
func prefixes(re *syntax.Regexp) (ps []string, exact, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{strings.ToLower(string(re.Rune))}, true, true
	case syntax.OpCharClass:
		n := 0
		set := map[string]bool{}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > 8 {
				return nil, false, false
			}
			for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
				set[strings.ToLower(string(c))] = true
			}
		}
		for s := range set {
			ps = append(ps, s)
		}
		return ps, true, len(ps) > 0
	case syntax.OpCapture:
		return prefixes(re.Sub[0])
	case syntax.OpAlternate:
		exact = true
		for _, sub := range re.Sub {
			p, e, k := prefixes(sub)
			if !k {
				return nil, false, false
			}
			ps = append(ps, p...)
			exact = exact && e
		}
		return ps, exact, len(ps) <= maxPrefixes
	case syntax.OpPlus:
		p, _, k := prefixes(re.Sub[0])
		return p, false, k
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false, false
		}
		p, e, k := prefixes(re.Sub[0])
		return p, e && re.Min == 1 && re.Max == 1, k
	case syntax.OpConcat:
		ps, exact = []string{""}, true
		for _, sub := range re.Sub {
			if !exact {
				break
			}
			p, e, k := prefixes(sub)
			if !k {
				exact = false
				break
			}
			if len(ps)*len(p) > maxPrefixes {
				exact = false
				break
			}
			var next []string
			for _, a := range ps {
				for _, b := range p {
					next = append(next, a+b)
				}
			}
			ps, exact = next, e
		}
		for _, p := range ps {
			if p == "" {
				return nil, false, false
			}
		}
		return ps, exact, true
	}
	return nil, false, false
}

// anchorRule builds the anchored form of r, or nil. need (even when not
// anchored) is a set of lowercased literals one of which every match
// contains, or nil when unknown.
func anchorRule(r *rule) (ai *anchorInfo, need []string) {
	if r.re == nil {
		return nil, nil
	}
	re, err := syntax.Parse(r.re.String(), syntax.Perl)
	if err != nil {
		return nil, nil
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	ai = &anchorInfo{}
	unbounded := false
	i := 0
	for ; i < len(subs); i++ {
		s := subs[i]
		if i == 0 && s.Op == syntax.OpWordBoundary {
			ai.boundary = 1
			continue
		}
		if i == 0 && s.Op == syntax.OpNoWordBoundary {
			ai.boundary = -1
			continue
		}
		if ai.boundary == 0 && (s.Op == syntax.OpStar || s.Op == syntax.OpQuest || (s.Op == syntax.OpRepeat && s.Min == 0)) &&
			len(s.Sub) == 1 && s.Sub[0].Op == syntax.OpCharClass {
			max := s.Max
			if s.Op == syntax.OpQuest {
				max = 1
			}
			if s.Op == syntax.OpStar || max < 0 {
				unbounded = true // cannot restore the match start
			}
			cc := s.Sub[0].Rune
			for j := 0; j+1 < len(cc); j += 2 {
				for c := cc[j]; c <= cc[j+1] && c < 256; c++ {
					ai.lead[c] = true
				}
			}
			ai.leadMax += max
			continue
		}
		break
	}
	if i >= len(subs) {
		return nil, nil
	}
	rest := subs[i:]
	var body *syntax.Regexp
	if len(rest) == 1 {
		body = rest[0]
	} else {
		body = &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: rest}
	}
	if ai.leadMax > 0 && !unbounded && ai.boundary == 0 {
		// unanchored body without the lead, for windowed runs: avoids an NFA
		// thread per byte for the lazy lead
		if bre, err := regexp.Compile(body.String()); err == nil && bre.NumSubexp() == r.re.NumSubexp() {
			ai.body = bre
		}
	}
	ps, _, ok := prefixes(body)
	if !ok || len(ps) == 0 {
		if ai.body != nil {
			return ai, nil
		}
		return nil, nil
	}
	need = ps
	notAnchored := func() (*anchorInfo, []string) {
		if ai.body != nil {
			return ai, need
		}
		return nil, need
	}
	if len(r.Keywords) == 0 || unbounded || (ai.boundary != 0 && ai.leadMax > 0) {
		return notAnchored()
	}
	for _, p := range ps {
		compatible := false
		for _, k := range r.Keywords {
			if strings.HasPrefix(p, k) || strings.HasPrefix(k, p) {
				compatible = true
				break
			}
		}
		if !compatible {
			return notAnchored()
		}
	}
	are, err := regexp.Compile(`\A(?:` + body.String() + `)`)
	if err != nil || are.NumSubexp() != r.re.NumSubexp() {
		return notAnchored()
	}
	ai.re = are
	ai.value, ai.ops, ai.guarded = buildGuard(body)
	return ai, need
}

// containsAnyFold reports whether b contains one of the lowercased ASCII
// literals in need, ignoring ASCII case.
func containsAnyFold[T string | []byte](b T, need []string) bool {
	for _, n := range need {
		if len(n) == 0 {
			return true
		}
		c0 := n[0]
		up := c0
		if 'a' <= c0 && c0 <= 'z' {
			up = c0 - ('a' - 'A')
		}
		for i := 0; i+len(n) <= len(b); i++ {
			c := b[i]
			if c != c0 && c != up {
				continue
			}
			j := 1
			for ; j < len(n); j++ {
				if lowerASCII(b[i+j]) != n[j] {
					break
				}
			}
			if j == len(n) {
				return true
			}
		}
	}
	return false
}

func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// boundaryOK checks a stripped leading \b or \B at buf[p].
func (ai *anchorInfo) boundaryOK(buf []byte, p int) bool {
	if ai.boundary == 0 {
		return true
	}
	before := p > 0 && isWordByte(buf[p-1])
	after := p < len(buf) && isWordByte(buf[p])
	if ai.boundary > 0 {
		return before != after
	}
	return before == after
}

// guardClass is the set of bytes a rule's "name" part may consist of in
// gitleaks' semi-generic template: word characters, '.', '-', whitespace and
// quotes. See buildGuard.
var guardClass = func() (c [256]bool) {
	for b := 0; b < 256; b++ {
		c[b] = isWordByte(byte(b))
	}
	for _, b := range []byte(" \t\n\r\v\f.-'\"") {
		c[b] = true
	}
	return c
}()

const guardScan = 256

// buildGuard derives a cheap necessary condition from an anchored body whose
// elements, up to some mandatory element E, only consume guardClass bytes and
// E starts with a byte outside it (key = value: E is the operator): then the
// first byte after the hit outside guardClass must be a first byte of E.
func buildGuard(body *syntax.Regexp) (g valueGuard, ops [256]bool, ok bool) {
	var elems []*syntax.Regexp
	var flatten func(re *syntax.Regexp)
	flatten = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpConcat:
			for _, s := range re.Sub {
				flatten(s)
			}
		case syntax.OpCapture:
			if len(re.Sub) == 1 && re.Sub[0].Op == syntax.OpConcat {
				flatten(re.Sub[0])
				return
			}
			elems = append(elems, re)
		default:
			elems = append(elems, re)
		}
	}
	flatten(body)
	var within func(re *syntax.Regexp) bool
	within = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpLiteral:
			for _, r := range re.Rune {
				if r >= 256 || !guardClass[r] {
					return false
				}
				if re.Flags&syntax.FoldCase != 0 {
					// non-ASCII fold variants (Kelvin sign, long s) are ignored
					for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
						if f < 128 && !guardClass[f] {
							return false
						}
					}
				}
			}
			return true
		case syntax.OpCharClass:
			for i := 0; i+1 < len(re.Rune); i += 2 {
				if re.Rune[i] >= 128 && re.Flags&syntax.FoldCase != 0 {
					continue // case folding adds the Kelvin sign and long s to \w: ignored
				}
				if re.Rune[i+1] >= 256 {
					return false
				}
				for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
					if !guardClass[c] {
						return false
					}
				}
			}
			return true
		case syntax.OpEmptyMatch:
			return true
		case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			for _, s := range re.Sub {
				if !within(s) {
					return false
				}
			}
			return true
		}
		return false
	}
	opMax := 0
	for idx, el := range elems {
		if within(el) {
			if _, mx := lenRange(el); mx >= 0 && opMax >= 0 {
				opMax += mx
			} else {
				opMax = -1
			}
			continue
		}
		// el must be mandatory and start outside guardClass
		ps, _, k := prefixes(el)
		if !k || len(ps) == 0 {
			return g, ops, false
		}
		for _, p := range ps {
			b := p[0]
			if guardClass[b] {
				return g, ops, false
			}
			ops[b] = true
			if 'a' <= b && b <= 'z' {
				ops[b-('a'-'A')] = true
			}
		}
		g = buildValueGuard(elems[idx:])
		g.opMax = opMax
		return g, ops, true
	}
	return g, ops, false
}

// valueGuard: after the operator, within skip bytes, a run of at least
// min bytes from class must start (the value's minimum length).
type valueGuard struct {
	on    bool
	skip  int
	min   int
	class [256]bool
	// With termOn, the value is followed by a byte of term or the end of
	// the input (canEnd), and term shares no byte with class: so a value
	// ends exactly where a run of class bytes ends.
	termOn bool
	term   [256]bool
	canEnd bool
	// gap holds every byte the operator and the optional elements before
	// the value can consist of: the value starts before the first other byte.
	gapOn bool
	gap   [256]bool
	// opMax is the most bytes before the operator (-1: unbounded).
	opMax int
}

// buildValueGuard looks at the elements from the operator on: the operator
// and following optional elements have bounded length (skip), then a
// mandatory element of minimum length min over class.
func buildValueGuard(elems []*syntax.Regexp) (g valueGuard) {
	skip := 0
	gapOK := true
	for i, el := range elems {
		mn, mx := lenRange(el)
		if i == 0 || mn == 0 {
			if mx < 0 {
				return g
			}
			skip += mx
			gapOK = gapOK && charset(el, &g.gap)
			continue
		}
		g.gapOn = gapOK
		if mn < 4 || !charset(el, &g.class) {
			return valueGuard{}
		}
		g.on, g.skip, g.min = true, skip, mn
		if i+1 < len(elems) {
			if term, canEnd, ok := firstBytes(elems[i+1]); ok {
				disjoint := true
				for b := range term {
					if term[b] && g.class[b] {
						disjoint = false
					}
				}
				if disjoint {
					g.termOn, g.term, g.canEnd = true, term, canEnd
				}
			}
		}
		return g
	}
	return valueGuard{}
}

// lenRange is the minimum and maximum byte length of re's matches (max -1:
// unbounded). Non-ASCII runes count 1 for min and 4 for max.
func lenRange(re *syntax.Regexp) (mn, mx int) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			l := utf8.RuneLen(r)
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					l = max(l, utf8.RuneLen(f))
				}
			}
			mx += l
		}
		return len(re.Rune), mx
	case syntax.OpCharClass:
		if len(re.Rune) > 0 && re.Rune[len(re.Rune)-1] < 128 {
			return 1, 1
		}
		return 1, 4
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1, 4
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, 0
	case syntax.OpCapture:
		return lenRange(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			a, b := lenRange(s)
			mn += a
			if mx >= 0 {
				if b < 0 {
					mx = -1
				} else {
					mx += b
				}
			}
		}
		return mn, mx
	case syntax.OpAlternate:
		mn = -1
		for _, s := range re.Sub {
			a, b := lenRange(s)
			if mn < 0 || a < mn {
				mn = a
			}
			if mx >= 0 && (b < 0 || b > mx) {
				mx = b
			}
		}
		return max(mn, 0), mx
	case syntax.OpStar:
		return 0, -1
	case syntax.OpPlus:
		a, _ := lenRange(re.Sub[0])
		return a, -1
	case syntax.OpQuest:
		_, b := lenRange(re.Sub[0])
		return 0, b
	case syntax.OpRepeat:
		a, b := lenRange(re.Sub[0])
		mn = a * re.Min
		if re.Max < 0 || b < 0 {
			return mn, -1
		}
		return mn, b * re.Max
	}
	return 0, -1
}

// charset adds every byte re's matches can contain to c (all bytes >= 0x80
// when re can match a non-ASCII rune); false if re has constructs it does
// not understand.
func charset(re *syntax.Regexp, c *[256]bool) bool {
	addRune := func(r rune) {
		if r >= 128 {
			for b := 128; b < 256; b++ {
				c[b] = true
			}
			return
		}
		c[r] = true
		if re.Flags&syntax.FoldCase != 0 {
			c[unicode.ToLower(r)] = true
			c[unicode.ToUpper(r)] = true
		}
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			addRune(r)
		}
		return true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			for r := lo; r <= hi && r < 128; r++ {
				addRune(r)
			}
			if hi >= 128 {
				addRune(128)
			}
		}
		return true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		for b := range c {
			c[b] = true
		}
		return true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		for _, s := range re.Sub {
			if !charset(s, c) {
				return false
			}
		}
		return true
	}
	return false
}

// guardOK checks the guard at hit p.
func (ai *anchorInfo) guardOK(buf []byte, p, end int) bool {
	if !ai.guarded {
		return true
	}
	scan := guardScan
	if ai.value.opMax >= 0 {
		scan = ai.value.opMax + 1
	}
	lim := min(end, p+scan)
	for i := p; i < lim; i++ {
		c := buf[i]
		if !guardClass[c] {
			if !ai.ops[c] {
				return false
			}
			return ai.value.check(buf, i, end)
		}
	}
	if ai.value.opMax >= 0 {
		return false // no operator where one must be
	}
	return lim < end || lim == p+guardScan // ran out of scan budget: let the regex decide
}

// firstBytes is the set of bytes a match of re can start with, and whether
// re can match at the end of the input; ok false when unknown.
func firstBytes(re *syntax.Regexp) (set [256]bool, canEnd bool, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return set, false, false
		}
		var c [256]bool
		one := &syntax.Regexp{Op: syntax.OpLiteral, Rune: re.Rune[:1], Flags: re.Flags}
		if !charset(one, &c) {
			return set, false, false
		}
		return c, false, true
	case syntax.OpCharClass:
		ok := charset(re, &set)
		return set, false, ok
	case syntax.OpEndText:
		return set, true, true
	case syntax.OpEndLine:
		set['\n'] = true
		return set, true, true
	case syntax.OpCapture, syntax.OpPlus:
		return firstBytes(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return set, false, false
		}
		return firstBytes(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return set, false, false
		}
		return firstBytes(re.Sub[0])
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, e, k := firstBytes(sub)
			if !k {
				return set, false, false
			}
			for b := range s {
				set[b] = set[b] || s[b]
			}
			canEnd = canEnd || e
		}
		return set, canEnd, true
	}
	return set, false, false
}

// check looks for the value after the operator at buf[o].
func (g *valueGuard) check(buf []byte, o, end int) bool {
	if !g.on {
		return true
	}
	if g.termOn {
		return g.checkTerm(buf, o, end)
	}
	run := 0
	lim := min(end, o+g.skip+g.min)
	for i := o + 1; i < lim; i++ {
		if g.class[buf[i]] {
			run++
			if run >= g.min {
				return true
			}
		} else {
			if i-o >= g.skip {
				return false // no run can start late enough and still be long enough
			}
			run = 0
		}
	}
	return false
}

// required returns lowercased ASCII literals one of which every match of re
// contains (each at least two bytes), or nil when no such set is known.
func required(re *syntax.Regexp) []string {
	set, ok := requiredSet(re)
	if !ok || score(set) < 2 {
		return nil
	}
	for _, s := range set {
		for i := 0; i < len(s); i++ {
			if s[i] >= 128 {
				return nil
			}
		}
	}
	return set
}

func score(set []string) int {
	if len(set) == 0 {
		return 0
	}
	m := len(set[0])
	for _, s := range set[1:] {
		m = min(m, len(s))
	}
	return m
}

func requiredSet(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral, syntax.OpCharClass:
		ps, _, ok := prefixes(re)
		return ps, ok
	case syntax.OpCapture:
		return requiredSet(re.Sub[0])
	case syntax.OpPlus:
		return requiredSet(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return requiredSet(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := requiredSet(sub)
			if !ok {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, len(out) <= maxPrefixes
	case syntax.OpConcat:
		var best []string
		for i, sub := range re.Sub {
			if s, ok := requiredSet(sub); ok && better(s, best) {
				best = s
			}
			// literal sequences spanning several elements ("." "p" (12|fx))
			rest := &syntax.Regexp{Op: syntax.OpConcat, Flags: re.Flags, Sub: re.Sub[i:]}
			if s, _, ok := prefixes(rest); ok && better(s, best) {
				best = s
			}
		}
		return best, best != nil
	}
	return nil, false
}

func better(a, b []string) bool {
	if b == nil {
		return len(a) > 0
	}
	sa, sb := score(a), score(b)
	return sa > sb || sa == sb && len(a) < len(b)
}

// regexNeed is required() for a compiled regex.
func regexNeed(re *regexp.Regexp) []string {
	if re == nil {
		return nil
	}
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	return required(p)
}

// checkTerm: some run of class bytes starting (or continuing) within skip
// bytes after the operator holds at least min bytes from its first
// possible start and ends at a terminator or the end of the input.
func (g *valueGuard) checkTerm(buf []byte, o, end int) bool {
	last := min(end-1, o+g.skip) // latest possible value start
	if g.gapOn {
		for j := o + 1; j <= last; j++ {
			if !g.gap[buf[j]] {
				last = j // the value starts here at the latest
				break
			}
		}
	}
	i := o + 1
	for i <= last {
		if !g.class[buf[i]] {
			i++
			continue
		}
		v := i
		for i < end && g.class[buf[i]] {
			i++
		}
		// run [v, i): the value starts at v at the earliest and ends at i
		if i-v >= g.min && (i == end && g.canEnd || i < end && g.term[buf[i]]) {
			return true
		}
	}
	return false
}
