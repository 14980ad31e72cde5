package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stratascan/strata/report"
	"github.com/stratascan/strata/source"
)

// formatsAnnotation lists, comma-separated, the output formats a command
// produces; the root checks --format against it before any command runs.
const formatsAnnotation = "strata/formats"

// defaultFormats is what a command without the annotation produces.
var defaultFormats = []string{report.FormatTable, report.FormatJSON}

// withFormats records the output formats cmd produces and returns cmd.
func withFormats(cmd *cobra.Command, formats ...string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[formatsAnnotation] = strings.Join(formats, ",")
	return cmd
}

// formatsOf is the formats cmd produces.
func formatsOf(cmd *cobra.Command) []string {
	if f, ok := cmd.Annotations[formatsAnnotation]; ok {
		return strings.Split(f, ",")
	}
	return defaultFormats
}

func completeFormat(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return formatsOf(cmd), cobra.ShellCompDirectiveNoFileComp
}

// commonPlatforms are offered for --platform.
var commonPlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6",
	"linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64", "windows/amd64"}

func completePlatform(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return commonPlatforms, cobra.ShellCompDirectiveNoFileComp
}

func completeWords(words ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// localTransports are the reference prefixes that name local paths.
var localTransports = []string{source.TransportOCI + ":", source.TransportOCIArchive + ":", source.TransportDockerArchive + ":", source.TransportDir + ":"}

// completeRef completes an image reference: the transports, then the
// paths after a local transport; a bare word is left to the shell's file
// completion (a path) or to the user (a registry reference).
func completeRef(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	for _, t := range localTransports {
		if rest, ok := strings.CutPrefix(toComplete, t); ok {
			return completePath(t, rest, t == source.TransportOCI+":" || t == source.TransportDir+":"), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
	}
	out := append([]string{"docker://"}, localTransports...)
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveDefault
}

// completeFirstRef completes a reference as the first argument only.
func completeFirstRef(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return completeRef(cmd, args, toComplete)
}

// completePath lists the entries of the directory part of partial that
// start with its last element (directories only when dirsOnly).
func completePath(prefix, partial string, dirsOnly bool) []string {
	dir, base := filepath.Split(partial)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), base) || (dirsOnly && !e.IsDir()) {
			continue
		}
		name := prefix + filepath.Join(dir, e.Name())
		if e.IsDir() {
			name += "/"
		}
		out = append(out, name)
	}
	return out
}

// checkFlags validates what cobra's flag types cannot: a --layer given on
// the command line is an index, never negative (the -1 default means "no
// layer chosen").
func checkFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "layer" && f.Value.Type() == "int" && strings.HasPrefix(f.Value.String(), "-") {
			err = fmt.Errorf("--layer %s: a layer index is 0 (the base layer) or more", f.Value.String())
		}
	})
	return err
}
