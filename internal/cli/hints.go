package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/inspect"
	"github.com/stratascan/strata/layer"
	"github.com/stratascan/strata/purge"
	"github.com/stratascan/strata/registry"
)

// Library errors say what failed in the library's terms; the CLI adds the
// flag or command that addresses it.
// A hint with a flag applies only to commands that have that flag.
var hints = []struct {
	err  error
	flag string
	hint string
}{
	{inspect.ErrNoSuchFile, "", "list what every layer holds with: strata ls --all-layers IMAGE [DIR]"},
	{inspect.ErrLimit, "path", "raise --max-bytes or narrow --path"},
	{inspect.ErrLimit, "max-bytes", "raise --max-bytes"},
	{layer.ErrTooLarge, "max-bytes", "raise --max-bytes if this is expected"},
	{purge.ErrDeleteUnsupported, "untag-via-placeholder", "rerun with --untag-via-placeholder"},
	{registry.ErrUnauthorized, "username", "pass --username and --password-stdin, or run docker login"},
}

// withHint appends the CLI's advice for a known library error.
func withHint(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	for _, h := range hints {
		if errors.Is(err, h.err) && (h.flag == "" || cmd.Flags().Lookup(h.flag) != nil) {
			var ee *exitError
			if errors.As(err, &ee) && ee.err != nil {
				return &exitError{code: ee.code, err: fmt.Errorf("%w; %s", ee.err, h.hint)}
			}
			if errors.As(err, &ee) {
				return err
			}
			return fmt.Errorf("%w; %s", err, h.hint)
		}
	}
	return err
}

// addHints wraps every command's RunE so its errors carry the hints.
func addHints(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return withHint(cmd, run(cmd, args)) }
	}
	for _, sub := range c.Commands() {
		addHints(sub)
	}
}
