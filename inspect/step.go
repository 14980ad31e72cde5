package inspect

import (
	"strings"

	"github.com/stratascan/strata/image"
	"github.com/stratascan/strata/secret"
)

// Step renders a history created_by as a Dockerfile-like instruction, then
// its build args, the values of those whose names look like credentials
// (secret.IsSecretName) masked unless reveal: build args are the classic
// leak through history.
func Step(createdBy string, reveal bool) string {
	in := image.ParseInstruction(createdBy)
	if len(in.BuildArgs) == 0 {
		return in.Text
	}
	args := make([]string, 0, len(in.BuildArgs))
	for _, a := range in.BuildArgs {
		v := a.Value
		if !reveal && v != "" && secret.IsSecretName(a.Name) {
			v = "<redacted>"
		}
		args = append(args, a.Name+"="+v)
	}
	return in.Text + "  # build args: " + strings.Join(args, " ")
}

// MaskCreatedBy masks, in a raw history created_by, the values of build
// args whose names look like credentials, keeping the rest as recorded.
func MaskCreatedBy(raw string) string {
	for _, a := range image.ParseInstruction(raw).BuildArgs {
		if a.Value != "" && secret.IsSecretName(a.Name) {
			raw = strings.Replace(raw, a.Name+"="+a.Value, a.Name+"=<redacted>", 1)
		}
	}
	return raw
}
