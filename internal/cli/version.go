package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/stratascan/strata/report"
)

func init() { register(newVersionCmd) }

// Build stamps, set by the release build with
// -ldflags "-X github.com/stratascan/strata/internal/cli.version=... -X ...commit=... -X ...date=...".
// Left empty, they come from the Go build info (module version, VCS
// revision and time) where the toolchain recorded them.
var version, commit, date string

// Version is strata's version, as shown by strata version and in SARIF.
var Version = "0.1.0-dev"

// BuildInfo says which strata this is.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified,omitempty"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// ReadBuildInfo returns the ldflags stamps, else the module version and
// VCS settings recorded by the Go toolchain; "unknown" where neither has
// it (go run records no VCS settings).
func ReadBuildInfo() BuildInfo {
	bi := BuildInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if bi.Commit == "" {
					bi.Commit = s.Value
				}
			case "vcs.time":
				if bi.Date == "" {
					bi.Date = s.Value
				}
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			}
		}
	}
	if bi.Version == "" {
		bi.Version = Version
	}
	for _, p := range []*string{&bi.Commit, &bi.Date} {
		if *p == "" {
			*p = "unknown"
		}
	}
	return bi
}

func versionString() string {
	bi := ReadBuildInfo()
	dirty := ""
	if bi.Modified {
		dirty = " (modified)"
	}
	return fmt.Sprintf("strata %s (commit %s%s, built %s, %s, %s)", bi.Version, bi.Commit, dirty, bi.Date, bi.GoVersion, bi.Platform)
}

func newVersionCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print strata's version, commit and build date (--format json for all build details)",
		Example: `  strata version
  strata version --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.Format == report.FormatJSON {
				return report.JSON(g.Stdout, ReadBuildInfo())
			}
			_, err := fmt.Fprintln(g.Stdout, versionString())
			return err
		},
	}
}
