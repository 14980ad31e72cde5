package purge

import "errors"

// statusCoder is implemented by registry errors that carry an HTTP status.
type statusCoder interface{ HTTPStatus() int }

func isUnsupported(err error) bool {
	var sc statusCoder
	if errors.As(err, &sc) {
		return sc.HTTPStatus() == 400 || sc.HTTPStatus() == 405
	}
	return false
}
