package secret

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
)

// genText returns about n bytes of deterministic, secret-free text that looks
// like a Debian tree: prose docs, config files, code, dpkg symbols files,
// checksums, changelogs and debconf templates.
func genText(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 42))
	words := strings.Fields(`the a to of and in is it that for on with as this by be are or from at not can
		key keys token tokens access api auth authentication secret secrets password passwords passwd credential
		credentials they money hey eye survey disk task ask risk desk these those file files system systems
		configuration option options value values default user users server client service services package
		packages install installed debian library libraries version versions support supported use used using
		must should will may also see manual page pages directory example examples set sets setting settings
		public private certificate certificates session sessions login logout connection connect network host
		hostname port protocol ssh ssl tls rsa dsa ecdsa ed25519 gpg signature signed sign verify keyring
		apt dpkg systemd journal unit units timer socket sockets kernel module modules device devices`)
	hexs := func(k int) string {
		const h = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = h[rng.IntN(16)]
		}
		return string(b)
	}
	word := func() string { return words[rng.IntN(len(words))] }
	var b bytes.Buffer
	for b.Len() < n {
		switch rng.IntN(9) {
		case 0, 1: // prose paragraph
			for l := 0; l < 4+rng.IntN(8); l++ {
				var line []string
				for w := 0; w < 8+rng.IntN(8); w++ {
					line = append(line, word())
				}
				b.WriteString(strings.Join(line, " ") + ".\n")
			}
			b.WriteString("\n")
		case 2: // config
			for l := 0; l < 10+rng.IntN(20); l++ {
				switch rng.IntN(5) {
				case 0:
					fmt.Fprintf(&b, "#%s %s %s\n", word(), word(), word())
				case 1:
					fmt.Fprintf(&b, "%s%s = %s\n", title(word()), title(word()), word())
				case 2:
					fmt.Fprintf(&b, "%sFile /etc/%s/%s_%s\n", title(word()), word(), word(), word())
				case 3:
					fmt.Fprintf(&b, "PasswordAuthentication no\nPubkeyAuthentication yes\n")
				default:
					fmt.Fprintf(&b, "%s_%s=%d\n", strings.ToUpper(word()), strings.ToUpper(word()), rng.IntN(10000))
				}
			}
		case 3: // code
			for l := 0; l < 10+rng.IntN(30); l++ {
				fmt.Fprintf(&b, "\tif err := %s.%s(ctx, %sKey, %sToken); err != nil { return fmt.Errorf(\"%s %s: %%w\", err) }\n",
					word(), title(word()), word(), word(), word(), word())
			}
		case 4: // dpkg symbols
			fmt.Fprintf(&b, "lib%s.so.%d lib%s%d #MINVER#\n", word(), rng.IntN(9), word(), rng.IntN(9))
			for l := 0; l < 50+rng.IntN(100); l++ {
				fmt.Fprintf(&b, " _ZN%d%s%d%sKeyEv@Base %d.%d.%d\n", 4, word(), 8, word(), rng.IntN(9), rng.IntN(20), rng.IntN(9))
				fmt.Fprintf(&b, " %s_%s_%s@%s_%d.%d %d.%d\n", word(), word(), word(), strings.ToUpper(word()), rng.IntN(9), rng.IntN(9), rng.IntN(9), rng.IntN(9))
			}
		case 5: // checksums
			for l := 0; l < 10+rng.IntN(40); l++ {
				fmt.Fprintf(&b, "%s  usr/share/doc/%s/%s.gz\n", hexs(32), word(), word())
			}
		case 6: // changelog
			fmt.Fprintf(&b, "%s (%d.%d-%d) unstable; urgency=medium\n\n", word(), rng.IntN(9), rng.IntN(9), rng.IntN(9))
			for l := 0; l < 3+rng.IntN(6); l++ {
				fmt.Fprintf(&b, "  * %s %s %s (Closes: #%d)\n", title(word()), word(), word(), rng.IntN(999999))
			}
			fmt.Fprintf(&b, "\n -- Debian Maintainer <maint@debian.org>  Mon, %02d Jan 2024 12:00:00 +0000\n\n", 1+rng.IntN(28))
		case 7: // debconf templates
			fmt.Fprintf(&b, "Name: %s/%s\nTemplate: %s/%s\nValue: %s\nOwners: %s\nType: %s\nDescription: %s %s %s\n Extended: %s %s.\n\n",
				word(), word(), word(), word(), word(), word(), []string{"password", "string", "boolean", "select"}[rng.IntN(4)], word(), word(), word(), word(), word())
		default: // shell
			for l := 0; l < 5+rng.IntN(20); l++ {
				fmt.Fprintf(&b, "if [ -f \"$%s_%s\" ]; then %s --%s=\"$%s\" --%s-file /etc/%s; fi\n",
					strings.ToUpper(word()), strings.ToUpper(word()), word(), word(), strings.ToUpper(word()), word(), word())
			}
		}
	}
	return b.Bytes()[:n]
}

// title upper-cases the first ASCII letter (the generated words are ASCII).
func title(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
