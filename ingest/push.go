package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

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
	p := push.New(url, "astroingest").Grouping("command", command).Grouping("shard", strconv.Itoa(shard.Index)).Gatherer(g)
	if client != nil {
		p = p.Client(client)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}

const lastSuccessName = "astroingest_last_success_timestamp_seconds"

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
