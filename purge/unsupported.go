package purge

import (
	"errors"

	"github.com/stratascan/strata/registry"
)

// Compile-time check: the registry client is a Repository.
var _ Repository = (*registry.Repo)(nil)

func isUnsupported(err error) bool { return errors.Is(err, registry.ErrUnsupported) }
