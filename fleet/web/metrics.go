package web

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratascan/strata/fleet/store"
)

// Metrics are the collectors a process updates as it works: workers
// observe scan phases and count what they read. Create one per process
// with NewMetrics and hand it to the fleet (workers) and to the handler.
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	// ScanDuration is the latency of each scan phase, by phase
	// ("scan_layer", "assemble_image", "resolve_manifest", ...).
	ScanDuration *prometheus.HistogramVec
	// LayersScanned counts layers this process walked.
	LayersScanned prometheus.Counter
	// BytesRead counts layer bytes this process read.
	BytesRead prometheus.Counter
}

// NewMetrics creates the in-process collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ScanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_scan_duration_seconds", Help: "Latency of scan phases, by phase (scan_layer, assemble_image, ...).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600},
		}, []string{"phase"}),
		LayersScanned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_worker_layers_scanned_total", Help: "Layers this process fetched and walked.",
		}),
		BytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_worker_bytes_read_total", Help: "Layer bytes this process read.",
		}),
	}
	for _, c := range []prometheus.Collector{m.ScanDuration, m.LayersScanned, m.BytesRead} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveScan records how long one phase took.
func (m *Metrics) ObserveScan(phase string, d time.Duration) {
	if m == nil {
		return
	}
	m.ScanDuration.WithLabelValues(phase).Observe(d.Seconds())
}

// LayerScanned counts one walked layer of n bytes.
func (m *Metrics) LayerScanned(n int64) {
	if m == nil {
		return
	}
	m.LayersScanned.Inc()
	if n > 0 {
		m.BytesRead.Add(float64(n))
	}
}

// scrapeTimeout bounds the queue and store queries of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	descJobs     = prometheus.NewDesc("strata_jobs", "Jobs in the fleet's queue, by state.", []string{"state"}, nil)
	descLayers   = prometheus.NewDesc("strata_layers_scanned", "Distinct layers with a stored scan result (all processes).", nil, nil)
	descBytes    = prometheus.NewDesc("strata_bytes_read", "Bytes of the layers with a stored scan result (all processes).", nil, nil)
	descFindings = prometheus.NewDesc("strata_findings", "Open findings in the store, by severity.", []string{"severity"}, nil)
	descUp       = prometheus.NewDesc("strata_store_up", "Whether the last scrape could read the queue and the store (1) or not (0).", nil, nil)
)

// fleetCollector reads the fleet-wide values at scrape time: they live in
// the shared store and queue, so every process reports the same.
type fleetCollector struct{ h *handler }

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descLayers, descBytes, descFindings, descUp} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var errs []error
	jobs, err := c.h.queue.QueueStats(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("queue stats: %w", err))
	}
	for state, n := range jobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), state)
	}
	st, err := c.h.store.Stats(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("store stats: %w", err))
	} else {
		c.collectStats(ch, st)
	}
	up := 1.0
	if err := errors.Join(errs...); err != nil {
		c.h.log.Error("metrics scrape", "error", err)
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}

func (c *fleetCollector) collectStats(ch chan<- prometheus.Metric, st *store.Stats) {
	ch <- prometheus.MustNewConstMetric(descLayers, prometheus.GaugeValue, float64(st.Layers))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.BytesRead))
	for sev, n := range st.OpenBySeverity {
		ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(n), sev)
	}
}
