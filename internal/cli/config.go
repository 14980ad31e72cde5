package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// configHelp is appended to every command's usage text.
const configHelp = `
Configuration:
  Every flag can also be set in the environment as STRATA_<FLAG> (upper case, dashes as
  underscores: STRATA_FAIL_ON=high, STRATA_INSECURE=true) or in a YAML config file,
  $XDG_CONFIG_HOME/strata/config.yaml (~/.config/strata/config.yaml; --config PATH or
  STRATA_CONFIG to choose another): top-level keys are flag names for every command,
  a section named after a command ("scan:", "base check:") holds keys for that command only.
  Precedence: flag > environment > command section > top level > default.
`

// maxConfigBytes bounds the config file read.
const maxConfigBytes = 1 << 20

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("configuration")

// envName is the environment variable that sets a flag.
func envName(flag string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// noConfig are flags that only make sense on the command line.
var noConfig = map[string]bool{"help": true, "version": true, "config": true}

// envOnly are flags a config file never sets: sending secrets to their
// providers needs the user's flag or STRATA_VERIFY in the environment.
var envOnly = map[string]bool{"verify": true, "verify-hosts": true}

// configFile is the parsed config: top-level keys and per-command sections.
type configFile struct {
	path     string
	global   map[string]any
	sections map[string]map[string]any
}

// defaultConfigPath is $XDG_CONFIG_HOME/strata/config.yaml, or the
// platform's user config dir.
func defaultConfigPath() string {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "strata", "config.yaml")
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "strata", "config.yaml")
}

// loadConfig reads the config file: path if given (it must exist), else
// $STRATA_CONFIG, else the default location (which may be absent).
func loadConfig(path string) (*configFile, error) {
	explicit := path != ""
	if !explicit {
		if path = os.Getenv("STRATA_CONFIG"); path != "" {
			explicit = true
		} else if path = defaultConfigPath(); path == "" {
			return &configFile{}, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return &configFile{}, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrConfig, path, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrConfig, path, maxConfigBytes)
	}
	return parseConfig(path, b)
}

func parseConfig(path string, b []byte) (*configFile, error) {
	cf := &configFile{path: path, global: map[string]any{}, sections: map[string]map[string]any{}}
	var raw map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	for k, v := range raw {
		if sec, ok := v.(map[string]any); ok {
			cf.sections[strings.Join(strings.Fields(k), " ")] = sec
			continue
		}
		cf.global[k] = v
	}
	return cf, nil
}

// applyConfig fills every flag of cmd the user did not set on the command
// line from STRATA_<FLAG>, else from the config file's section for cmd,
// else from its top level.
func applyConfig(cmd *cobra.Command, path string) error {
	cf, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := cf.checkKeys(cmd.Root()); err != nil {
		return err
	}
	section := cf.sections[strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()))]
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || noConfig[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := cmd.Flags().Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q: %v", ErrConfig, envName(f.Name), v, err))
			}
			return
		}
		if envOnly[f.Name] {
			return
		}
		v, ok := section[f.Name]
		if !ok {
			v, ok = cf.global[f.Name]
		}
		if !ok {
			return
		}
		for _, s := range configValues(v) {
			if err := cmd.Flags().Set(f.Name, s); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %s: %v", ErrConfig, cf.path, f.Name, err))
				return
			}
		}
	})
	return errors.Join(errs...)
}

// configValues turns a YAML value into flag values: a list sets a
// repeatable flag once per item.
func configValues(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, scalar(e))
		}
		return out
	case nil:
		return nil
	}
	return []string{scalar(v)}
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// checkKeys rejects keys no command has as a flag and sections that name
// no command, so a typo in the file is an error rather than ignored.
func (cf *configFile) checkKeys(root *cobra.Command) error {
	if len(cf.global) == 0 && len(cf.sections) == 0 {
		return nil
	}
	all := map[string]bool{}
	byCmd := map[string]map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		names := map[string]bool{}
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name], all[f.Name] = true, true })
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		byCmd[strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), root.Name()))] = names
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var bad []string
	for k := range cf.global {
		if !all[k] || noConfig[k] {
			bad = append(bad, k)
		}
	}
	for s, keys := range cf.sections {
		names, ok := byCmd[s]
		if !ok {
			bad = append(bad, s+":")
			continue
		}
		for k := range keys {
			if !names[k] || noConfig[k] {
				bad = append(bad, s+": "+k)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%w: %s: unknown keys %s (keys are flag names; sections are command names such as \"scan\" or \"base check\")", ErrConfig, cf.path, strings.Join(bad, ", "))
}
