package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsDate is the date man pages carry: fixed, so generated pages change
// only when the command tree does.
var docsDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// GenerateDocs writes man pages (dir/man/strata*.1) and completion scripts
// (dir/completion/strata.{bash,zsh,fish,ps1}) from the command tree.
func GenerateDocs(dir string) error {
	root := NewRoot(nil, os.Stdout, os.Stderr)
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	root.Long += "\n" + configHelp
	man := filepath.Join(dir, "man")
	comp := filepath.Join(dir, "completion")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	old, _ := filepath.Glob(filepath.Join(man, "strata*.1"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	hdr := &doc.GenManHeader{Title: "STRATA", Section: "1", Date: &docsDate, Source: "strata", Manual: "strata manual"}
	if err := doc.GenManTree(root, hdr, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	gens := map[string]func(*cobra.Command, string) error{
		"strata.bash": func(c *cobra.Command, f string) error { return c.GenBashCompletionFileV2(f, true) },
		"strata.zsh":  func(c *cobra.Command, f string) error { return c.GenZshCompletionFile(f) },
		"strata.fish": func(c *cobra.Command, f string) error { return c.GenFishCompletionFile(f, true) },
		"strata.ps1":  func(c *cobra.Command, f string) error { return c.GenPowerShellCompletionFileWithDesc(f) },
	}
	for name, gen := range gens {
		if err := gen(root, filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
	}
	return nil
}
