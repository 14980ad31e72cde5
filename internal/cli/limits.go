package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/source"
)

// addListFlags adds the listing caps to a command that lists tags or
// repositories.
func addListFlags(f *pflag.FlagSet, g *Globals) {
	f.IntVar(&g.MaxRepos, "max-repos", registry.DefaultMaxRepos, "stop with an error when a registry catalog lists more repositories than this")
	f.IntVar(&g.MaxTags, "max-tags", registry.DefaultMaxTags, "stop with an error when a repository lists more tags than this")
}

// explain words a library error for the command line: the flag that lifts
// a cap or a timeout, or that names what the user wants.
func explain(err error) error {
	var le *registry.ListLimitError
	var te *registry.TimeoutError
	switch {
	case errors.As(err, &le) && le.What == "tags":
		return fmt.Errorf("%w (pass --max-tags N to raise it)", err)
	case errors.As(err, &le):
		return fmt.Errorf("%w (pass --max-repos N to raise it)", err)
	case errors.As(err, &te):
		return fmt.Errorf("%w (pass --registry-timeout DURATION to raise it)", err)
	case errors.Is(err, registry.ErrCredentialsRefused):
		return fmt.Errorf("%w (pass --allow-cross-host-auth if you trust that token host, over HTTPS only)", err)
	case errors.Is(err, source.ErrNoMatchingPlatform):
		return fmt.Errorf("%w (pass --platform os/arch or --all-platforms)", err)
	}
	return err
}
