package scan

import (
	"context"
	"errors"
	"strings"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/verify"
)

// maxContextBytes bounds the file text read back for a verifier's context
// (a service-account JSON, a Docker auth file, a .env).
const maxContextBytes = 64 << 10

// VerifyCandidates turns findings that hold their secret (a Run with
// Options.KeepSecrets) into verification candidates: the secrets found in
// the same file become each other's Related values, and the file's text (up
// to 64 KiB, read back from its layer) is the Context from which verifiers
// take hosts, account names and key ids. Only findings whose rule the
// checker supports get their file read.
func VerifyCandidates(ctx context.Context, res *Result, targets []Target, c *verify.Checker) ([]verify.Candidate, error) {
	type loc struct{ image, manifest, layer, path string }
	where := func(f *Finding) loc {
		return loc{f.Image, string(f.Manifest), string(f.LayerDigest), f.Path}
	}
	related := map[loc]map[string][]string{}
	redacted := map[loc][]string{}
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Secret == "" {
			continue
		}
		l := where(f)
		if related[l] == nil {
			related[l] = map[string][]string{}
		}
		related[l][f.Rule] = append(related[l][f.Rule], f.Secret)
		redacted[l] = append(redacted[l], f.Redacted)
	}
	texts := map[loc]string{}
	var out []verify.Candidate
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Secret == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := where(f)
		cd := verify.Candidate{Rule: f.Rule, Fingerprint: f.Fingerprint, Secret: f.Secret, Related: related[l]}
		if c.Supports(f.Rule) {
			text, ok := texts[l]
			if !ok {
				text = fileText(ctx, targets, f)
				texts[l] = text
			}
			cd.Context = text
		}
		if cd.Context == "" {
			cd.Context = strings.Join(redacted[l], "\n")
		}
		out = append(out, cd)
	}
	return out, nil
}

// fileText reads back the file a finding is in, bounded; "" when it is not
// a plain file of a layer (config, attestation, archive member) or cannot
// be read.
func fileText(ctx context.Context, targets []Target, f *Finding) string {
	if f.Layer == nil || strings.Contains(f.Path, "!") {
		return ""
	}
	for _, t := range targets {
		for _, im := range t.Images {
			if im.Manifest.Digest != f.Manifest || t.Ref != f.Image {
				continue
			}
			var b limitedBuffer
			b.max = maxContextBytes
			_, err := inspect.ReadFile(ctx, t.Store, im, strings.TrimPrefix(f.Path, "/"), *f.Layer, &b, inspect.Options{})
			if err != nil && !errors.Is(err, errFull) {
				return ""
			}
			return b.String()
		}
	}
	return ""
}

var errFull = errors.New("context buffer full")

// limitedBuffer keeps the first max bytes and then refuses more.
type limitedBuffer struct {
	strings.Builder
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if room <= 0 {
		return 0, errFull
	}
	if len(p) > room {
		b.Builder.Write(p[:room])
		return room, errFull
	}
	return b.Builder.Write(p)
}

// ApplyVerification sets each finding's Verification from results keyed by
// fingerprint.
func ApplyVerification(res *Result, results map[string]verify.Result) {
	for i := range res.Findings {
		if r, ok := results[res.Findings[i].Fingerprint]; ok {
			r := r
			res.Findings[i].Verification = &r
		}
	}
}
