package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stratascan/strata/fleet/store"
	"github.com/stratascan/strata/registry"
	"github.com/stratascan/strata/secret"
)

// Defaults of Config's durations.
const (
	DefaultJobTimeout   = 15 * time.Minute
	DefaultStopGrace    = 30 * time.Second
	DefaultAssembleWait = time.Hour
	DefaultPollInterval = time.Second
	DefaultMaxAttempts  = 10
)

// ErrConfig is wrapped by every error about an unusable Config.
var ErrConfig = errors.New("fleet: configuration")

// Config configures a Service.
type Config struct {
	// Store is the findings store; its database also holds River's queue
	// (store.Open ran River's migrations).
	Store *store.Store
	// Engine is the compiled ruleset every scan uses; its RulesetHash keys
	// layer results and scan_layer jobs.
	Engine *secret.Engine
	// Logger receives the service's and River's logs (nil: discard).
	Logger *slog.Logger
	// Registries are the hosts ("host[:port]") or host/prefix values a
	// sweep enumerates; a prefix keeps only the repositories under it.
	Registries []string
	// Sweep is the period of the full sweep (a River periodic job, also run
	// when the elected leader starts); 0 = none (but after a ruleset change).
	Sweep time.Duration
	// Workers is how many jobs this process works at once; 0 makes an
	// insert-only service (Start then runs no job).
	Workers int
	// Registry configures registry access exactly as strata scan does:
	// credentials (Username/Password, else the Docker config and credential
	// helpers), TLS (CAFile, SkipTLSVerify, Insecure), timeouts and listing caps.
	Registry registry.Options

	// JobTimeout bounds one job's run (default DefaultJobTimeout).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before River assumes
	// its worker died and makes it available again (default JobTimeout +
	// 15 minutes; it must exceed JobTimeout).
	RescueAfter time.Duration
	// StopGrace is how long Stop lets jobs in flight finish before it
	// cancels them; a cancelled job is released for a retry by any worker
	// (default DefaultStopGrace).
	StopGrace time.Duration
	// AssembleWait bounds how long an assemble_image job waits for its
	// layers' results before it fails (and is retried by River) (default
	// DefaultAssembleWait).
	AssembleWait time.Duration
	// PollInterval is how often workers poll for new jobs where the
	// database cannot notify them (SQLite) (default DefaultPollInterval).
	PollInterval time.Duration
	// MaxAttempts bounds a job's attempts (default DefaultMaxAttempts).
	MaxAttempts int
	// MaxLayerBytes caps the uncompressed bytes of one layer (0: no cap).
	MaxLayerBytes int64
	// Metrics, when set, receives each job's duration and each layer
	// scanned (fleet/web's *Metrics implements it, for /metrics).
	Metrics Observer
}

// Observer receives the workers' measurements.
type Observer interface {
	// ObserveScan records how long one job of a phase took
	// ("scan_layer", "assemble_image", "resolve_manifest", ...).
	ObserveScan(phase string, d time.Duration)
	// LayerScanned counts one layer walked and its compressed bytes read.
	LayerScanned(bytes int64)
}

// withDefaults checks cfg and fills its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Store == nil {
		return cfg, fmt.Errorf("%w: no findings store", ErrConfig)
	}
	if cfg.Engine == nil {
		return cfg, fmt.Errorf("%w: no secret engine", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers < 0 || cfg.Sweep < 0 {
		return cfg, fmt.Errorf("%w: negative workers (%d) or sweep period (%s)", ErrConfig, cfg.Workers, cfg.Sweep)
	}
	cfg.Registries = append([]string(nil), cfg.Registries...)
	for i, r := range cfg.Registries {
		r = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(r), "docker://"), "/")
		host, prefix := splitRegistry(r)
		if host == "" || strings.ContainsAny(r, "@ \t") || strings.Contains(prefix, ":") {
			return cfg, fmt.Errorf("%w: registry %q: want host[:port] or host[:port]/prefix", ErrConfig, cfg.Registries[i])
		}
		cfg.Registries[i] = r
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = cfg.JobTimeout + 15*time.Minute
	}
	if cfg.RescueAfter <= cfg.JobTimeout {
		return cfg, fmt.Errorf("%w: the rescue delay (%s) must exceed the job timeout (%s), or running jobs would be run twice", ErrConfig, cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.AssembleWait <= 0 {
		cfg.AssembleWait = DefaultAssembleWait
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	return cfg, nil
}

// splitRegistry splits "host[:port][/prefix]" into its host and prefix.
func splitRegistry(r string) (host, prefix string) {
	host, prefix, _ = strings.Cut(r, "/")
	return host, prefix
}
