package ingest

import (
	"sync"
	"time"

	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus series (names fixed by DESIGN.md).
// They live on the registerer the caller injects; nothing is global. All
// methods are safe for concurrent use, and a nil *Metrics records nothing.
type Metrics struct {
	objects      *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	failures     *prometheus.CounterVec
	inflight     prometheus.Gauge
	duration     *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	runDuration  prometheus.Gauge
	lastSuccess  prometheus.Gauge
	entries      *prometheus.GaugeVec
}

// Entry states of the entries{domain,state} gauge.
var entryStates = []string{"planned", "done", "unchanged", "failed", "stale"}

// NewMetrics registers the engine's metrics on reg. Label values for every
// domain are pre-created so dashboards see zeros rather than gaps.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astroingest_objects_total", Help: "Objects processed, by result (uploaded, unchanged, failed).",
		}, []string{"domain", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astroingest_bytes_total", Help: "Bytes uploaded to the bucket.",
		}, []string{"domain"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astroingest_entry_failures_total", Help: "Entries that failed, by reason.",
		}, []string{"domain", "reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "astroingest_inflight_transfers", Help: "Object transfers in progress.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "astroingest_transfer_duration_seconds", Help: "Duration of one object transfer, download to commit.",
			Buckets: prometheus.ExponentialBuckets(0.05, 4, 10),
		}, []string{"domain"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astroingest_http_requests_total", Help: "Requests to source hosts, by status code (\"error\" when no response).",
		}, []string{"host", "code"}),
		runDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "astroingest_run_duration_seconds", Help: "Duration of the last run.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "astroingest_last_success_timestamp_seconds", Help: "Unix time the last run finished without failures.",
		}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "astroingest_entries", Help: "Entries of this run by state (planned, done, unchanged, failed, stale).",
		}, []string{"domain", "state"}),
	}
	for _, c := range []prometheus.Collector{m.objects, m.bytes, m.failures, m.inflight, m.duration, m.httpRequests, m.runDuration, m.lastSuccess, m.entries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, d := range sources.Domains() {
		for _, r := range []string{"uploaded", "unchanged", "failed"} {
			m.objects.WithLabelValues(d, r)
		}
		m.bytes.WithLabelValues(d)
		for _, s := range entryStates {
			m.entries.WithLabelValues(d, s)
		}
	}
	return m, nil
}

func (m *Metrics) object(domain, result string) {
	if m != nil {
		m.objects.WithLabelValues(domain, result).Inc()
	}
}

func (m *Metrics) addBytes(domain string, n int64) {
	if m != nil && n > 0 {
		m.bytes.WithLabelValues(domain).Add(float64(n))
	}
}

func (m *Metrics) failure(domain, reason string) {
	if m != nil {
		m.failures.WithLabelValues(domain, reason).Inc()
	}
}

func (m *Metrics) inflightAdd(d float64) {
	if m != nil {
		m.inflight.Add(d)
	}
}

func (m *Metrics) transfer(domain string, seconds float64) {
	if m != nil {
		m.duration.WithLabelValues(domain).Observe(seconds)
	}
}

func (m *Metrics) httpRequest(host, code string) {
	if m != nil {
		m.httpRequests.WithLabelValues(host, code).Inc()
	}
}

func (m *Metrics) entryState(domain, state string, delta float64) {
	if m != nil {
		m.entries.WithLabelValues(domain, state).Add(delta)
	}
}

func (m *Metrics) finish(seconds float64, successUnix float64) {
	if m == nil {
		return
	}
	m.runDuration.Set(seconds)
	if successUnix > 0 {
		m.lastSuccess.Set(successUnix)
	}
}

// runClock keeps run_duration_seconds current while the run goes on, so a
// live scrape (the dashboard's running-pod row) sees the elapsed time and
// not zero until the very end.
func (m *Metrics) runClock(start time.Time, now func() time.Time, every time.Duration) (stop func()) {
	if m == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m.runDuration.Set(now().Sub(start).Seconds())
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	})
	return sync.OnceFunc(func() {
		close(quit)
		wg.Wait()
	})
}
