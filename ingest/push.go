package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Push sends the run's metrics to a Pushgateway under job "astroingest",
// grouped by shard so the shards of one Indexed Job do not overwrite each
// other. It uses Add (POST), which replaces only the metrics pushed, keeping
// series the gateway holds for other pushers of the group.
func Push(ctx context.Context, url string, shard Shard, g prometheus.Gatherer, client *http.Client) error {
	p := push.New(url, "astroingest").Grouping("shard", strconv.Itoa(shard.Index)).Gatherer(g)
	if client != nil {
		p = p.Client(client)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	return nil
}
