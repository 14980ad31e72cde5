// Package secret is strata's secret-detection engine.
//
// # Rules
//
// The effective ruleset is, in this order (a later rule with the same ID
// replaces an earlier one):
//
//  1. gitleaks' default rules, loaded from its Go module
//     (github.com/zricethezav/gitleaks/v8/config.DefaultConfig) and translated
//     exactly as gitleaks does, with its allowlists and stopwords; severity
//     "high" unless mapped otherwise (see gitleaksSeverity);
//  2. strata's own rules (rules/*.toml, embedded, loaded in file-name order):
//     private keys of every PEM/OpenSSH/PGP kind, AWS credentials, .npmrc,
//     .pypirc, .netrc, .git-credentials, Docker/Podman auth files,
//     kubeconfig keys and tokens, .env files and the image's Env, keystores
//     by name, Terraform state, htpasswd and shadow hashes (strata.toml);
//     Azure credentials (azure.toml); service tokens gitleaks misses
//     (services.toml); Maven, Symfony, Django, Rails, Laravel and WordPress
//     configuration (frameworks.toml); database URIs and Docker auths in any
//     file (uris.toml). Each rule states its confidence and carries
//     examples and counterexamples that TestRuleExamples runs;
//  3. Options.RulesFiles (same TOML format; a rule may carry
//     severity = "critical"|"high"|"medium"|"low"; [extend] is rejected);
//  4. Options.Patterns, as rules custom-pattern-1, -2, ... whose keyword is
//     the regex's literal prefix (three bytes or more), if any.
//
// RulesetHash covers all of that plus every option that changes results, for
// use in cache keys. It is computed by New from the rule sources (gitleaks'
// default config text and module version, strata's embedded rules,
// severity map and allowlist additions, the rules files' bytes, the
// patterns, the engine version and the Go version) without compiling
// anything. New parses only the rules files and patterns (a bad one is an
// ErrBadRules error there); the built-in rules (gitleaks' TOML through viper
// and its Translate, ~250 regexes) and the keyword prefilter are compiled
// on first use or by Engine.Compile, once per engine. A pipeline whose
// results all come from a cache keyed by RulesetHash never compiles them
// (Engine.Compiled reports whether it did).
//
// # How a file is scanned
//
// ScanFile sniffs the first 8 KiB and opens archives and compressed
// streams (to Options.MaxArchiveDepth levels, Options.MaxArchiveBytes of
// decompressed data per top-level file), scanning their members under names
// "outer!member" ("a.tar.gz!dir/b.zip!c/d.txt"):
//
//   - gzip, xz, bzip2 and zstd streams; a compressed tar is one level
//     ("backup.tar.xz!etc/x"), any other content the single member
//     "x.xz!x"; decoder memory is capped (xz dictionary 64 MiB, zstd
//     window 128 MiB): a stream declaring more is reported, not opened;
//   - tar, zip (jar, war, whl, egg, apk of Android) and 7z (LZMA/LZMA2
//     dictionaries capped likewise, PPMd refused; each member's declared
//     size is charged to the byte budget before it is decompressed);
//   - Debian packages (ar: "p.deb!data.tar.xz!etc/x"), RPM packages (the
//     cpio payload, gzip/xz/zstd/bzip2: "p.rpm!etc/x"), gems (a tar of
//     data.tar.gz) and Alpine packages (concatenated gzip tar segments).
//
// UTF-16 text (byte-order mark, or ASCII with every other byte NUL) is
// transcoded to UTF-8 as it streams. Other binary content (a NUL in the
// first 8 KiB, or a known magic: ELF, PE, Mach-O, images, PDF, ...) is
// skipped unless Options.ScanBinaries. Path-only rules (keystores) apply by
// name to every file, their fingerprint being the sha256 of the file
// content.
//
// After each buffer, a decode pass (decode.go) rescans the decoded form of
// base64/base64url runs (24 characters or more, decoding to printable
// text), lines with JSON/YAML string escapes (a PEM key with "\n" escapes,
// "\/", "\u00XX") and lines with percent-encoding, in their line, two
// levels deep; such findings carry Match.Encoding and the line of the
// encoded text, with Secret, Redacted and Fingerprint of the decoded value.
//
// Text streams through a 1 MiB buffer that keeps 4 KiB of history and holds
// back 16 KiB, so a secret across a chunk boundary is found exactly once.
// One case-insensitive Aho-Corasick pass (a dense DFA over byte classes)
// finds every rule keyword; each hit runs only that keyword's rules, and
// never on a whole file:
//
//   - Anchored rules (most: the regex provably starts with one of the rule's
//     keywords, after an optional lead such as gitleaks' "[\w.-]{0,50}?" or a
//     \b) run as \A(?:rest) at the hit, through Go's NFA, which gives up a
//     few bytes past the keyword on ordinary text; the lead is restored by
//     extending the match to the left. The input ends at the hit's line end
//     (the next line's for rules that can match a line break; 12 KiB for
//     rules matching long multi-line runs such as private keys). Rules in
//     gitleaks' key = value template also get exact cheap guards derived
//     from the regex syntax: an operator byte within the name's maximum
//     length, then a run of value bytes of the value's minimum length
//     ending at a terminator.
//   - Other rules run on the hit's line (plus the next line, or
//     [hit-4 KiB, hit+12 KiB] for long multi-line rules), clipped to 4 KiB
//     either side, with overlapping windows of one rule merged, and only if
//     the window holds a literal every match must contain.
//   - Rules without keywords run on every line, still bounded by the buffer.
//   - A rule whose anchored runs in one buffer cost more than twice the
//     buffer (a long line packed with keywords) falls back to merged
//     windows, so the work stays linear in the input.
//
// A rule's path regex is checked at its first hit in a file (behind a
// required-literal test), path allowlists only when a finding is about to be
// reported; a file without hits costs no regex at all. Then entropy
// thresholds, gitleaks allowlists (secret/match/line targets, stopwords,
// AND/OR), the "gitleaks:allow"/"strata:allow" line markers, gitleaks'
// generic-rule precedence, and the ignore file (Options.IgnoreFile:
// fingerprint:sha256:…, rule:ID, path:GLOB with "**") apply.
//
// strata adds allowlists to a few gitleaks rules for false positives common
// in images (OpenPGP key IDs in ENV GPG_KEY, checksums, file names,
// identifiers, cipher names) and skips documentation trees
// (usr/share/doc, man, info…) for its low-confidence rules (generic-api-key,
// jwt, curl-auth-*, kubernetes-secret-yaml): documentation examples are the
// main false-positive source there.
//
// Go's regexp runs in linear time, so each window costs a bounded amount;
// Options.FileTimeout bounds a whole file (archives included) and
// Options.MaxFileBytes the bytes scanned per file; both are reported in
// FileStats rather than as errors.
//
// # Confidence, validation and context
//
// Every Match has a Confidence: ConfidenceFormat when the rule matches a
// provider's exact format (strata rules say so; gitleaks rules are format
// when their regex starts with a literal prefix of three bytes or more,
// see inferConfidence and gitleaksConfidence), ConfidenceKeyword
// otherwise. Rules may name a validator (Validators): GitHub's and npm's
// CRC32 token checksum ("github-crc32", attached to gitleaks' GitHub and
// npm rules), base64 "user:password" for Docker auths. A value failing its
// validator is reported with ConfidenceKeyword and severity low, and
// Match.Validation says so. Findings under the documentation, test and
// example trees of installed packages (examplePaths) get Context
// ContextExample and severity low, unless a checksum passed.
//
// Precision filters, applied to every built-in rule: a regex that starts
// with a token prefix beginning with a letter or digit must not match
// right after one ("Sogho_..." is not gho_); values that are placeholders
// (isPlaceholder: AWS's documentation keys, ${VAR}, <your-key>, changeme,
// xxxxx, ...) are dropped; gitleaks' low-confidence rules (docRules) skip
// comment lines in installed packages' code (installedComment).
//
// # Secrets and redaction
//
// Match.Secret is the exact secret (the rule's secret group, or the first
// non-empty group, or the whole match). Match.Redacted is the match with
// every occurrence of the secret replaced by "<redacted:N chars>" and line
// breaks escaped; it never contains the secret. Match.Fingerprint is
// "sha256:"+hex(sha256(Secret)), stable across images.
//
// Pipelines can call Wants with a file's first SniffLen bytes to skip
// binaries without copying them, and Ignored to filter stored results.
//
// ScanText scans in-memory text under a location such as "config:env" (Env
// entries joined with "\n"), "config:label", "config:history[N]" or
// "attestation:…"; rules with a path regex apply when it matches the
// location (dotenv-secret matches "config:env").
package secret
