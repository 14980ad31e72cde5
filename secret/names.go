package secret

import "strings"

// secretNameWords are the words that make a variable name look like it
// holds a credential.
var secretNameWords = []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASS", "KEY", "CREDENTIAL", "AUTH", "PRIVATE"}

// IsSecretName reports whether a variable name (a build arg, an ENV key)
// suggests a credential: AWS_SECRET_ACCESS_KEY, NPM_TOKEN, DB_PASSWORD.
// It is a naming heuristic for masking values by default, not a detector:
// the rules find secrets by their values.
func IsSecretName(name string) bool {
	name = strings.ToUpper(name)
	for _, w := range secretNameWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
