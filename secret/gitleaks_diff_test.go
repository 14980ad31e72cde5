package secret

import (
	"bytes"
	"context"
	"math/rand/v2"
	"regexp/syntax"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
)

// sampleFor generates a random string matching re (not checked here).
func sampleFor(re *syntax.Regexp, r *rand.Rand, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r.IntN(2) == 0 {
				c = unicode.SimpleFold(c)
				if c > 127 {
					c = unicode.SimpleFold(c)
				}
			}
			b.WriteRune(c)
		}
	case syntax.OpCharClass:
		var ascii []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for c := re.Rune[i]; c <= re.Rune[i+1] && c < 127; c++ {
				if c >= 32 || c == '\t' || c == '\n' {
					ascii = append(ascii, c)
				}
			}
		}
		if len(ascii) == 0 {
			b.WriteRune(re.Rune[0])
			return
		}
		// prefer alphanumerics so that samples look like tokens
		var alnum []rune
		for _, c := range ascii {
			if unicode.IsLetter(c) || unicode.IsDigit(c) {
				alnum = append(alnum, c)
			}
		}
		if len(alnum) > 0 && r.IntN(4) != 0 {
			b.WriteRune(alnum[r.IntN(len(alnum))])
		} else {
			b.WriteRune(ascii[r.IntN(len(ascii))])
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte("abcdefghijklmnopqrstuvwxyz"[r.IntN(26)])
	case syntax.OpCapture:
		sampleFor(re.Sub[0], r, b)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			sampleFor(s, r, b)
		}
	case syntax.OpAlternate:
		sampleFor(re.Sub[r.IntN(len(re.Sub))], r, b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		mn, mx := 0, -1
		switch re.Op {
		case syntax.OpPlus:
			mn = 1
		case syntax.OpQuest:
			mx = 1
		case syntax.OpRepeat:
			mn, mx = re.Min, re.Max
		}
		if mx < 0 {
			mx = mn + 3
		}
		if mx > mn+20 {
			mx = mn + 20
		}
		n := mn + r.IntN(mx-mn+1)
		for range n {
			sampleFor(re.Sub[0], r, b)
		}
	}
}

// TestDifferentialGitleaks generates matching samples for every gitleaks
// rule, scans them with gitleaks' own detector and with this engine, and
// requires this engine to find (at least) every rule gitleaks finds: the
// keyword windows, anchoring and guards must never lose a detection.
func TestDifferentialGitleaks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gitleaks' detector over generated samples")
	}
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	e := defaultEngine(t)
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "export ", "  ", "config: ", `"`, "x = "}
	suffixes := []string{"\n", "\" \n", " # comment\n", ";\n", "\n\nnext line\n"}
	var tried, glFound, missed int
	var misses []string
	for _, id := range d.Config.OrderedRules {
		gr := d.Config.Rules[id]
		if gr.Regex == nil || gr.Path != nil {
			continue
		}
		re, err := syntax.Parse(gr.Regex.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			var b strings.Builder
			sampleFor(re, rng, &b)
			sample := b.String()
			if !gr.Regex.MatchString(sample) {
				continue
			}
			content := prefixes[i%len(prefixes)] + sample + suffixes[i%len(suffixes)]
			tried++
			var gl []report.Finding
			func() {
				defer func() { recover() }()
				gl = d.DetectString(content)
			}()
			secret := ""
			for _, f := range gl {
				if f.RuleID == id {
					secret = f.Secret
				}
			}
			if secret == "" {
				continue
			}
			glFound++
			// the same secret from another rule counts: strata keeps one
			// finding per secret and place (bittrex access/secret keys share
			// a regex)
			got := map[string]bool{}
			e.ScanFile(context.Background(), "src/sample.txt", int64(len(content)), bytes.NewReader([]byte(content)), func(m Match) {
				got[m.RuleID] = true
				got["secret:"+m.Secret] = true
			})
			if !got[id] && !got["secret:"+secret] {
				// strata's own rules replace a few gitleaks ones (private-key)
				if _, ok := replacedByStrata[id]; ok {
					continue
				}
				missed++
				misses = append(misses, id+": "+strings.TrimSpace(content))
			}
		}
	}
	sort.Strings(misses)
	for _, m := range misses {
		t.Errorf("gitleaks finds, strata does not: %.200q", m)
	}
	t.Logf("%d samples, gitleaks found its rule in %d, strata missed %d", tried, glFound, missed)
	if glFound < 500 {
		t.Errorf("only %d usable samples", glFound)
	}
}

var replacedByStrata = map[string]bool{"private-key": true}
