package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
)

// Push sends the run's metrics to a Pushgateway under job "astroingest",
// grouped by command and shard, so that the shards of one Indexed Job and
// the scheduled run and a backfill do not overwrite each other. It uses Add
// (POST), which replaces only the metric families pushed and keeps the rest
// of the group. That is why a run that did not succeed leaves
// last_success_timestamp_seconds out of its push: the gateway then keeps
// the previous success time instead of having it reset to zero.
func Push(ctx context.Context, url, command string, shard Shard, succeeded bool, g prometheus.Gatherer, client *http.Client) error {
	if !succeeded {
		g = without{g, lastSuccessName}
	}
	return add(ctx, url, command, shard, g, client)
}

// PushBusy records that a run of command found the bucket's lease held by
// another live run and did nothing (exit 4): it adds to the run's group
// astroingest_last_busy_timestamp_seconds, set to at, and nothing else.
// Add keeps the group's other families, so the last real run's numbers
// (its objects, its last success) stay as they were: a skipped run is read
// neither as a failure nor as a success, and the gauge says when runs were
// last skipped.
func PushBusy(ctx context.Context, url, command string, shard Shard, at time.Time, client *http.Client) error {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: lastBusyName,
		Help: "When a run last found the bucket's lease held by another live run and skipped (exit 4), in seconds since the epoch.",
	})
	g.Set(float64(at.Unix()))
	reg.MustRegister(g)
	return add(ctx, url, command, shard, reg, client)
}

// add pushes g into the group of command and shard with Add (POST).
func add(ctx context.Context, url, command string, shard Shard, g prometheus.Gatherer, client *http.Client) error {
	p := push.New(url, "astroingest").Grouping("command", command).Grouping("shard", strconv.Itoa(shard.Index)).Gatherer(g)
	if client != nil {
		p = p.Client(client)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}

const (
	lastSuccessName = "astroingest_last_success_timestamp_seconds"
	lastBusyName    = "astroingest_last_busy_timestamp_seconds"
)

// without is a Gatherer that drops one metric family.
type without struct {
	g    prometheus.Gatherer
	name string
}

func (w without) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := w.g.Gather()
	out := mfs[:0]
	for _, mf := range mfs {
		if mf.GetName() != w.name {
			out = append(out, mf)
		}
	}
	return out, err
}
