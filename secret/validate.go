package secret

import (
	"encoding/base64"
	"hash/crc32"
	"sort"
	"strings"
)

// validator checks a secret found by a rule against the provider's format
// beyond what a regex can say. checksum marks validators that verify a
// checksum: a value that passes one is a real token's shape with
// overwhelming probability, even in documentation or test trees.
type validator struct {
	check    func(secret string) bool
	checksum bool
}

// validators by name, as rules files' "validator" key names them.
var validators = map[string]validator{
	// GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm (npm_) tokens: a prefix,
	// 30 base62 characters of random data, then the CRC32 (IEEE) of those
	// 30 characters in base62 (0-9A-Za-z), left-padded to 6 characters.
	// https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
	// https://github.blog/2021-09-23-announcing-npms-new-access-token-format/
	"github-crc32": {check: githubCRC32OK, checksum: true},
	// Docker/Podman auth entries: base64 of "user:password".
	"base64-userpass": {check: base64UserPassOK},
}

// Validators lists the validator names rules files may use.
func Validators() []string {
	out := make([]string, 0, len(validators))
	for k := range validators {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62CRC32 is the 6-character checksum suffix of GitHub-style tokens.
func base62CRC32(random string) string {
	n := crc32.ChecksumIEEE([]byte(random))
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(b[:])
}

// githubCRC32OK checks the checksum of a GitHub-style token (prefix_, then
// 30 random and 6 checksum characters).
func githubCRC32OK(secret string) bool {
	i := strings.LastIndexByte(secret, '_')
	if i < 0 || len(secret)-i-1 != 36 {
		return false
	}
	tail := secret[i+1:]
	return base62CRC32(tail[:30]) == tail[30:]
}

// base64UserPassOK reports whether s is base64 of "user:password" in
// printable ASCII with a non-empty password.
func base64UserPassOK(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return false
		}
	}
	i := strings.IndexByte(string(b), ':')
	if i < 0 || i == len(b)-1 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
