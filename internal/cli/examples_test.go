package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// sampleRef is how examples and the README name the shipped sample image.
const sampleRef = "oci:examples/leaky-app"

// example is one strata command line taken from --help or the README.
type example struct {
	where  string
	args   []string
	stdout string   // "> FILE" redirection, "" for none
	expect []string // README console output lines shown after it
}

// shellWords splits a command line the way sh would for the simple lines
// examples use: single and double quotes, backslash escapes outside single
// quotes, "# comment" at a word start, and one "> FILE" redirection.
func shellWords(line string) (words []string, stdout string) {
	var cur strings.Builder
	inWord, quote := false, byte(0)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			i = len(line)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	for i, w := range words {
		if w == ">" && i+1 < len(words) {
			return append(words[:i:i], words[i+2:]...), words[i+1]
		}
	}
	return words, ""
}

// helpExamples collects every "strata ..." line of every command's Example.
func helpExamples(root *cobra.Command) []example {
	var out []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "strata "); ok {
				args, stdout := shellWords(rest)
				out = append(out, example{where: c.CommandPath() + " --help", args: args, stdout: stdout})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

var readmeCommand = regexp.MustCompile(`^(?:\$ )?(?:strata|go run \./cmd/strata) (.*)$`)

// readmeExamples collects the strata command lines of README's sh and
// console blocks, with the output lines a console block shows.
func readmeExamples(t *testing.T, path string) []example {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	inBlock, console := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock && (line == "```sh" || line == "```console")
			console = line == "```console"
			continue
		case !inBlock:
			continue
		}
		if m := readmeCommand.FindStringSubmatch(line); m != nil {
			args, stdout := shellWords(m[1])
			out = append(out, example{where: "README.md:" + strconv.Itoa(n), args: args, stdout: stdout})
		} else if console && len(out) > 0 && !strings.HasPrefix(line, "$") {
			out[len(out)-1].expect = append(out[len(out)-1].expect, line)
		}
	}
	return out
}

func namesSample(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, sampleRef) {
			return true
		}
	}
	return false
}

// TestExamplesRun runs every example of every command's --help and of the
// README that names the shipped sample image, against that image, from an
// empty directory; the others (registry examples) must at least parse.
func TestExamplesRun(t *testing.T) {
	isolate(t)
	abs, err := filepath.Abs("../../examples/leaky-app")
	if err != nil {
		t.Fatal(err)
	}
	exs := append(helpExamples(NewRoot(nil, nil, nil)), readmeExamples(t, "../../README.md")...)
	ran := map[string]bool{}
	for _, ex := range exs {
		if !namesSample(ex.args) {
			if synopsis(ex.args) {
				continue
			}
			root := NewRoot(nil, nil, nil)
			root.InitDefaultVersionFlag()
			root.InitDefaultHelpFlag()
			root.InitDefaultCompletionCmd()
			cmd, rest, err := root.Find(ex.args)
			if err == nil {
				err = cmd.ParseFlags(rest)
			}
			if err != nil {
				t.Errorf("%s: strata %s: %v", ex.where, strings.Join(ex.args, " "), err)
			}
			continue
		}
		t.Run(ex.where+": "+strings.Join(ex.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			args := make([]string, len(ex.args))
			for i, a := range ex.args {
				args[i] = strings.Replace(a, sampleRef, "oci:"+abs, 1)
			}
			out, errs, code := run(t, "", args...)
			if code == ExitError || (code == ExitFindings && args[0] != "scan") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if ex.stdout != "" {
				if err := os.WriteFile(ex.stdout, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if out == "" && errs == "" {
				t.Fatal("no output at all")
			}
			both := squash(out + "\n" + errs)
			for _, want := range ex.expect {
				w := squash(strings.TrimSuffix(strings.TrimSpace(want), "..."))
				if w != "" && !strings.Contains(both, w) {
					t.Errorf("README shows %q; the command printed:\n%s%s", want, out, errs)
				}
			}
		})
		ran[ex.args[0]] = true
	}
	// Every command that reads an image shows it on the sample.
	for _, c := range []string{"inspect", "ls", "cat", "extract", "history", "scan", "digest"} {
		if !ran[c] {
			t.Errorf("no --help example of %s names %s", c, sampleRef)
		}
	}
}

// synopsis reports whether a line is a usage synopsis with placeholders
// (strata ls --layer N IMAGE) rather than a runnable example.
func synopsis(args []string) bool {
	for _, a := range args {
		if placeholder.MatchString(a) {
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`^[A-Z][A-Z_.]*$`)

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestShellWords(t *testing.T) {
	args, out := shellWords(`scan --pattern 'FLAG\{[^}]+\}' -o sarif oci:x > a.sarif  # comment`)
	if strings.Join(args, "|") != `scan|--pattern|FLAG\{[^}]+\}|-o|sarif|oci:x` || out != "a.sarif" {
		t.Fatalf("%q %q", args, out)
	}
}
