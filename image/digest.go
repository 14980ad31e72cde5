package image

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strings"
)

// Digest is a content address, "algorithm:encoded", for example
// "sha256:e3b0c442...". Comparisons use the full string.
type Digest string

// ErrInvalidDigest reports a digest string that does not follow the OCI grammar.
var ErrInvalidDigest = errors.New("invalid digest")

// ErrUnsupportedAlgorithm reports a well-formed digest whose algorithm strata
// cannot compute, so content addressed by it can never be verified.
var ErrUnsupportedAlgorithm = errors.New("unsupported digest algorithm")

// Well-known digests (FIELD-NOTES 1.5).
const (
	// EmptySHA256 is the sha256 of zero bytes.
	EmptySHA256 Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// EmptyLayerDiffID is the diff_id of an empty tar (1024 NUL bytes).
	EmptyLayerDiffID Digest = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
	// Schema1ThrowawayBlob is the gzipped empty tar that schema 1 uses for throwaway layers.
	Schema1ThrowawayBlob Digest = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
)

var digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)

// ParseDigest validates s and returns it as a Digest. sha256 and sha512
// digests must have the exact lowercase-hex length; other well-formed
// algorithms pass.
func ParseDigest(s string) (Digest, error) {
	if !digestRE.MatchString(s) {
		return "", fmt.Errorf("%w: %q (want algorithm:hex, e.g. sha256:<64 hex>)", ErrInvalidDigest, s)
	}
	d := Digest(s)
	want := map[string]int{"sha256": 64, "sha512": 128}[d.Algorithm()]
	if want != 0 {
		if len(d.Hex()) != want || strings.ToLower(d.Hex()) != d.Hex() {
			return "", fmt.Errorf("%w: %q (%s needs %d lowercase hex digits)", ErrInvalidDigest, s, d.Algorithm(), want)
		}
	}
	return d, nil
}

// Verifiable reports whether content addressed by d can be verified: its
// algorithm is one the OCI image spec registers and strata computes, sha256
// or sha512. Any other algorithm (well-formed or not) is an error wrapping
// ErrUnsupportedAlgorithm.
func (d Digest) Verifiable() error {
	switch d.Algorithm() {
	case "sha256", "sha512":
		return nil
	}
	return fmt.Errorf("%w: %q in %s: strata verifies sha256 and sha512 only, so content addressed by it cannot be trusted", ErrUnsupportedAlgorithm, d.Algorithm(), d)
}

// NewHash returns a hash for d's algorithm (see Verifiable).
func (d Digest) NewHash() (hash.Hash, error) {
	switch d.Algorithm() {
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, d.Verifiable()
}

// SumDigest formats the sum of a hash of algorithm alg as a Digest.
func SumDigest(alg string, sum []byte) Digest { return Digest(alg + ":" + hex.EncodeToString(sum)) }

// Of returns the digest of b with d's algorithm, for comparison with d.
func (d Digest) Of(b []byte) (Digest, error) {
	h, err := d.NewHash()
	if err != nil {
		return "", err
	}
	h.Write(b)
	return SumDigest(d.Algorithm(), h.Sum(nil)), nil
}

// Matches reports whether b hashes to d (false for algorithms that cannot be
// verified).
func (d Digest) Matches(b []byte) bool {
	got, err := d.Of(b)
	return err == nil && got == d
}

// FromBytes returns the sha256 digest of b.
func FromBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// FromSum formats a sha256 sum as a Digest.
func FromSum(sum []byte) Digest { return Digest("sha256:" + hex.EncodeToString(sum)) }

// Algorithm returns the part before the colon.
func (d Digest) Algorithm() string {
	a, _, _ := strings.Cut(string(d), ":")
	return a
}

// Hex returns the encoded part after the colon.
func (d Digest) Hex() string {
	_, h, _ := strings.Cut(string(d), ":")
	return h
}

// Short returns the algorithm-less first 12 characters, for tables.
func (d Digest) Short() string {
	h := d.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (d Digest) String() string { return string(d) }

// ChainIDs returns the ChainID of every prefix of diffIDs:
// ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
func ChainIDs(diffIDs []Digest) []Digest {
	out := make([]Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = FromBytes([]byte(string(out[i-1]) + " " + string(d)))
	}
	return out
}
