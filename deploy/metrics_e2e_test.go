package deploy

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The metrics, alerting rules and dashboard against a real Prometheus and
// Pushgateway (Debian's prometheus and prometheus-pushgateway) and the real
// binary. Prometheus scrapes both the Pushgateway (honor_labels, as the
// README asks) and the live endpoint of a running astroingest every second,
// and evaluates rules.yaml every second. The runs, in order:
//
//  1. `demo` (every kind and domain), pushed: group command=demo.
//  2. a slow `backfill` of a test registry served by slowSource, pushed
//     (command=backfill) and scraped live while it runs. It succeeds.
//  3. the same backfill with half its sources answering 404, pushed to the
//     same group: it fails, and must not move the group's last success.
//  4. an inconsistent push into the backfill group, which the Pushgateway
//     rejects: AstroingestPushFailing must see it.

const (
	scrapeEvery = time.Second
	// rateInterval is what Grafana makes of $__rate_interval at a 1 s scrape
	// and 1 s step: max(4 * scrape interval, step + scrape interval).
	rateInterval = "4s"
	// slowFile is how long slowSource takes to send one file in the
	// successful run: 8 files, 2 at a time, make a run of about 6 s whose
	// objects finish in 4 waves, so that the scrapes every second see
	// counters grow between them (rate() needs two samples of a change).
	slowFile = 1500 * time.Millisecond
	// slowFileFailing is the same for the failing run, whose 404s are
	// immediate: the 4 entries that still succeed keep the run (and its
	// live failure series) up for about 4 s.
	slowFileFailing = 2 * time.Second
	testWorkers     = "2"
)

// want is what a dashboard panel's query must return in one phase.
type want int

const (
	wantEmpty    want = iota + 1 // evaluates, no series
	wantSeries                   // at least one series (values may be 0 or NaN)
	wantPositive                 // some value above zero
)

func (w want) String() string {
	return map[want]string{wantEmpty: "no series", wantSeries: "some series", wantPositive: "a value > 0"}[w]
}

// panelWant is, per panel title, what each phase must show. A panel not
// listed fails the test: a new panel needs its expectation here.
//   - afterSuccess: instant queries once the demo and the successful
//     backfill are pushed; range queries over the successful run's window.
//   - afterFailure: the same after the failing backfill (its own window).
var panelWant = map[string]struct {
	live                       bool // of the live row: range query over the run's window
	afterSuccess, afterFailure want
	why                        string
}{
	// Pushed row (instant queries).
	"Since last success":                    {false, wantPositive, wantPositive, "both groups pushed a success; a failed run keeps it"},
	"Run duration by shard":                 {false, wantPositive, wantPositive, "every push carries the run's duration"},
	"Stale entries by domain":               {false, wantSeries, wantSeries, "stale is pre-created at 0 for every domain, and nothing is stale"},
	"Failed objects, last run, by shard":    {false, wantSeries, wantPositive, "0 for the successes, half the objects after the failing run"},
	"Entries by domain and state, last run": {false, wantPositive, wantPositive, "every domain and state is pushed, done > 0"},
	"Failures by reason, last run":          {false, wantEmpty, wantPositive, "a success creates no failure series at all; the failing run has http_404"},
	// Live row (range queries over one run).
	"Progress by domain":                    {true, wantPositive, wantPositive, "planned is set at the start, done grows while scraped"},
	"Throughput by domain":                  {true, wantPositive, wantSeries, "bytes grow between scrapes; the failing run re-uploads what did not 404 (--force), maybe after the last scrape"},
	"Entry failures by reason":              {true, wantEmpty, wantSeries, "no failure in the successful run; in the failing run the 404s come first and stay scraped"},
	"In-flight transfers":                   {true, wantPositive, wantPositive, "slow transfers are in flight while scraped"},
	"Transfer duration p50 / p95":           {true, wantPositive, wantSeries, "transfers end in waves between scrapes; in the failing run only two waves, maybe both after the last scrape"},
	"Source HTTP requests by host and code": {true, wantPositive, wantPositive, "requests of the second wave are counted between scrapes"},
	"Run duration so far":                   {true, wantPositive, wantPositive, "the engine keeps the gauge current every second while the run goes on"},
	"Objects by result":                     {true, wantPositive, wantPositive, "objects finish between scrapes"},
}

// allowedLabels are the label names a pushed or scraped astroingest series
// may carry: DESIGN.md's metric labels, the histogram's le, the push
// grouping (command, shard) and the scrape's job and instance. An entry ID,
// key or URL label would be per-entry cardinality.
var allowedLabels = []string{"__name__", "job", "instance", "command", "shard", "domain", "result", "reason", "host", "code", "state", "le", "op"}

func TestMetricsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and the Pushgateway")
	}
	promBin := requireBinary(t, "prometheus", "prometheus")
	pgBin := requireBinary(t, "prometheus-pushgateway", "prometheus-pushgateway")
	promtoolBin := promtool(t)
	ctx := t.Context()
	dir := t.TempDir()
	started := time.Now()

	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	go func() {
		bin, err := buildAstroingest(ctx, dir)
		buildDone <- built{bin, err}
	}()

	// The sources of the backfill: 4 files in each of two domains.
	src := newSlowSource(testPaths(), 96<<10)
	src.set(slowFile)
	srv := httptest.NewServer(src)
	defer srv.Close()
	srcHost := strings.TrimPrefix(srv.URL, "http://")
	registry := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(registry, []byte(testRegistry(srcHost)), 0o644); err != nil {
		t.Fatal(err)
	}

	pgAddr, promAddr, liveAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	pgURL, promURL := "http://"+pgAddr, "http://"+promAddr
	pg := startDaemon(t, "pushgateway", pgBin,
		"--web.listen-address="+pgAddr, "--persistence.file="+filepath.Join(dir, "pushgateway.db"), "--log.level=warn")
	rulesPath, err := filepath.Abs("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(prometheusConfig(rulesPath, pgAddr, liveAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := startDaemon(t, "prometheus", promBin,
		"--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	pg.waitReady(t, pgURL, 15*time.Second)
	prom.waitReady(t, promURL, 20*time.Second)
	api := promClient{base: promURL}

	// Before any push: the rules are loaded and healthy, and the only
	// alert whose expression holds is AstroingestNeverPushed.
	waitAlertStates(t, api, "before any push", map[string]string{
		"AstroingestNeverPushed": "pending", "AstroingestNoRecentSuccess": "inactive",
		"AstroingestHighFailureRatio": "inactive", "AstroingestEntriesStale": "inactive", "AstroingestPushFailing": "inactive",
	})

	b := <-buildDone
	if b.err != nil {
		t.Fatal(b.err)
	}
	bin := b.bin

	// 1. The demo, pushed.
	demoBucket := filepath.Join(dir, "demo-bucket")
	res, err := runAstroingest(ctx, bin, "demo", "--bucket", "file://"+demoBucket, "--pushgateway", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	if res.code != 0 {
		t.Fatalf("demo: exit %d, want 0\n%s", res.code, tail(res.stderr))
	}

	// 2. The slow backfill, scraped live and pushed.
	mirror := "file://" + filepath.Join(dir, "mirror")
	// Prometheus applies its targets a while after it starts: the live
	// target must be scraped (down) before the run it is to see.
	eventually(t, 15*time.Second, "Prometheus scrapes the live target", func() (bool, string) {
		v, err := api.query(ctx, `up{job="astroingest/astroingest"}`)
		return err == nil && len(v) == 1, fmt.Sprintf("up: %+v %v", v, err)
	})
	backfill := []string{"backfill", "--registry", registry, "--bucket", mirror, "--source", "e2e-metrics-*",
		"--workers", testWorkers, "--metrics-listen", liveAddr, "--pushgateway", pgURL}
	okWindow, liveText := runLive(t, bin, liveAddr, 0, backfill...)
	checkExposition(t, promtoolBin, "live /metrics of the successful backfill", liveText)

	// Prometheus has both pushes once push_time_seconds of each group is
	// newer than the run that pushed it.
	waitPushed(t, api, "demo", started)
	waitPushed(t, api, "backfill", okWindow.start)

	const lastSuccessSel = `astroingest_last_success_timestamp_seconds{job="astroingest", command="backfill", shard="0"}`
	okSuccess := singleValue(t, api, lastSuccessSel)
	if okSuccess < float64(okWindow.start.Unix()) || okSuccess > float64(okWindow.end.Unix()+1) {
		t.Errorf("%s = %.0f, want the successful run's end, within [%d, %d]", lastSuccessSel, okSuccess, okWindow.start.Unix(), okWindow.end.Unix()+1)
	}
	if v := singleValue(t, api, `astroingest_last_success_timestamp_seconds{job="astroingest", command="demo", shard="0"}`); v < float64(started.Unix()) {
		t.Errorf("demo's last success %.0f is older than the test (%d)", v, started.Unix())
	}
	for _, d := range []string{"climate", "astronomy"} {
		sel := fmt.Sprintf(`astroingest_entries{job="astroingest", command="backfill", domain=%q, state="done"}`, d)
		if v := singleValue(t, api, sel); v != 4 {
			t.Errorf("%s = %v, want 4", sel, v)
		}
	}
	domains, err := api.labelValues(ctx, "domain", "astroingest_entries")
	if err != nil {
		t.Fatalf("dashboard variable domain (label_values(astroingest_entries, domain)): %v", err)
	}
	if want := []string{"astronomy", "biology", "climate", "spectroscopy"}; !slices.Equal(domains, want) {
		t.Errorf("dashboard variable domain offers %q, want %q", domains, want)
	}

	pushed := httpGet(t, pgURL+"/metrics")
	checkExposition(t, promtoolBin, "Pushgateway /metrics after the successes", pushed)
	for _, group := range []string{`command="demo"`, `command="backfill"`} {
		if !strings.Contains(pushed, "astroingest_last_success_timestamp_seconds{"+group) {
			t.Errorf("Pushgateway holds no last success of %s", group)
		}
	}
	demoTokens, demoEntries := perEntryTokens(t, demoBucket)
	mirrorTokens, _ := perEntryTokens(t, filepath.Join(dir, "mirror"))
	if demoEntries <= maxLabelValues {
		t.Fatalf("the demo mirrored %d entries: too few for the label value bound %d to catch a per-entry label", demoEntries, maxLabelValues)
	}
	tokens := append(demoTokens, mirrorTokens...)
	checkCardinality(t, api, tokens, map[string]string{"pushed": pushed, "live": liveText})

	checkPanels(t, api, "after the successful runs", okWindow, func(p string) want { return panelWant[p].afterSuccess })
	checkAlertExprs(t, api)
	waitAlertStates(t, api, "after the successful runs", map[string]string{
		"AstroingestNeverPushed": "inactive", "AstroingestNoRecentSuccess": "inactive",
		"AstroingestHighFailureRatio": "inactive", "AstroingestEntriesStale": "inactive", "AstroingestPushFailing": "inactive",
	})

	// 3. The failing backfill: the odd-numbered files 404 now. --force
	// fetches every entry again, so every 404 is met.
	var gone []string
	for _, p := range testPaths() {
		if strings.HasSuffix(p, "1.bin") || strings.HasSuffix(p, "3.bin") {
			gone = append(gone, p)
		}
	}
	src.set(slowFileFailing, gone...)
	pushedBefore := singleValue(t, api, `push_time_seconds{job="astroingest", command="backfill", shard="0"}`)
	failWindow, liveFail := runLive(t, bin, liveAddr, 1, append(backfill, "--force")...)
	checkExposition(t, promtoolBin, "live /metrics of the failing backfill", liveFail)
	eventually(t, 10*time.Second, "Prometheus scrapes the failing run's push", func() (bool, string) {
		v, err := api.query(ctx, `push_time_seconds{job="astroingest", command="backfill", shard="0"}`)
		if err != nil || len(v) != 1 {
			return false, fmt.Sprintf("%v %v", v, err)
		}
		return v[0].Values[0] > pushedBefore, fmt.Sprintf("push_time_seconds %v, before %v", v[0].Values[0], pushedBefore)
	})
	if v := singleValue(t, api, lastSuccessSel); v != okSuccess {
		t.Errorf("after the failing run %s = %.3f, want the earlier success %.3f kept", lastSuccessSel, v, okSuccess)
	}
	for sel, want := range map[string]float64{
		`sum(astroingest_objects_total{job="astroingest", command="backfill", result="failed"})`:          float64(len(gone)),
		`sum(astroingest_entry_failures_total{job="astroingest", command="backfill", reason="http_404"})`: float64(len(gone)),
	} {
		if v := singleValue(t, api, sel); v != want {
			t.Errorf("%s = %v, want %v", sel, v, want)
		}
	}
	pushed = httpGet(t, pgURL+"/metrics")
	checkExposition(t, promtoolBin, "Pushgateway /metrics after the failing run", pushed)
	checkCardinality(t, api, tokens, map[string]string{"pushed": pushed, "live": liveFail})
	checkPanels(t, api, "after the failing run", failWindow, func(p string) want { return panelWant[p].afterFailure })
	ratio, err := api.query(ctx, alertExpr(t, "AstroingestHighFailureRatio"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ratio) != 1 || ratio[0].Metric["command"] != "backfill" || ratio[0].Metric["shard"] != "0" || ratio[0].Values[0] != 0.5 {
		t.Errorf("AstroingestHighFailureRatio expression: %+v, want one series command=backfill shard=0 at 0.5", ratio)
	}
	waitAlertStates(t, api, "after the failing run", map[string]string{
		"AstroingestNeverPushed": "inactive", "AstroingestNoRecentSuccess": "inactive",
		"AstroingestHighFailureRatio": "pending", "AstroingestEntriesStale": "inactive", "AstroingestPushFailing": "inactive",
	})

	// 4. A push the Pushgateway rejects (a counter of the demo group pushed
	// as a gauge): it records push_failure_time_seconds for the group.
	groupURL := pgURL + "/metrics/job/astroingest/command/backfill/shard/0"
	resp, err := http.Post(groupURL, "text/plain", strings.NewReader("# TYPE astroingest_objects_total gauge\nastroingest_objects_total{domain=\"climate\",result=\"failed\"} 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("inconsistent push: HTTP %d (%s), want 400", resp.StatusCode, body)
	}
	waitAlertStates(t, api, "after a rejected push", map[string]string{
		"AstroingestPushFailing": "pending", "AstroingestNeverPushed": "inactive", "AstroingestNoRecentSuccess": "inactive",
	})
	if v := singleValue(t, api, lastSuccessSel); v != okSuccess {
		t.Errorf("after the rejected push %s = %.3f, want %.3f", lastSuccessSel, v, okSuccess)
	}
	t.Logf("metrics end to end in %v", time.Since(started).Round(100*time.Millisecond))
}

// testPaths are the URL paths slowSource serves for the test registry.
func testPaths() []string {
	var out []string
	for _, d := range []string{"climate", "astronomy"} {
		for n := 1; n <= 4; n++ {
			out = append(out, fmt.Sprintf("/%s/obj-%02d.bin", d, n))
		}
	}
	return out
}

// testRegistry is a registry of two http families, one per domain, whose
// files slowSource serves at host.
func testRegistry(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hosts:\n  - host: %q\n    concurrency: 8\n    rps: 100\nfamilies:\n", host)
	for _, d := range []string{"climate", "astronomy"} {
		fmt.Fprintf(&b, `  - id: e2e-metrics-%[1]s
    domain: %[1]s
    title: "Metrics end-to-end test files (%[1]s)"
    provider: "deploy tests"
    license: "CC0-1.0"
    citation: "none"
    homepage: "https://example.org/astroingest"
    kind: http
    schedule: daily
    allow_http: true
    allow_http_reason: "loopback test server"
    expand:
      - range: {var: n, from: 1, to: 4, format: "%%02d"}
    entry:
      id: "e2e-metrics-%[1]s-{n}"
      key: "e2e/obj-{n}.bin"
      url: "http://%[2]s/%[1]s/obj-{n}.bin"
`, d, host)
	}
	return b.String()
}

func prometheusConfig(rules, pgAddr, liveAddr string) string {
	return fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
rule_files:
  - %[2]q
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: [%[3]q]
  # The job name the PodMonitor gives the live scrape.
  - job_name: astroingest/astroingest
    static_configs:
      - targets: [%[4]q]
`, scrapeEvery, rules, pgAddr, liveAddr)
}

// window is when a live run was up.
type window struct{ start, end time.Time }

// runLive runs astroingest with --metrics-listen at liveAddr, fetching the
// live exposition once a transfer is in flight, and checks the exit code.
func runLive(t *testing.T, bin, liveAddr string, wantCode int, args ...string) (window, string) {
	t.Helper()
	type result struct {
		res runResult
		err error
	}
	w := window{start: time.Now()}
	done := make(chan result, 1)
	go func() {
		res, err := runAstroingest(t.Context(), bin, args...)
		done <- result{res, err}
	}()
	var live string
	var r result
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case r = <-done:
			break wait
		case <-tick.C:
			if live != "" {
				continue
			}
			resp, err := http.Get("http://" + liveAddr + "/metrics")
			if err != nil {
				continue
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && inflight(string(b)) {
				live = string(b)
			}
		}
	}
	w.end = time.Now()
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.code != wantCode {
		t.Fatalf("astroingest %s: exit %d, want %d\n%s", strings.Join(args, " "), r.res.code, wantCode, tail(r.res.stderr))
	}
	if live == "" {
		t.Fatalf("the live endpoint %s never showed a transfer in flight during the %v run", liveAddr, w.end.Sub(w.start))
	}
	// One more scrape interval, so that Prometheus has recorded the end.
	time.Sleep(scrapeEvery + 200*time.Millisecond)
	return w, live
}

// inflight reports whether an exposition shows a transfer in progress.
func inflight(text string) bool {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, "astroingest_inflight_transfers "); ok {
			return strings.TrimSpace(v) != "0"
		}
	}
	return false
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", u, resp.StatusCode, err)
	}
	return string(b)
}

// checkExposition runs `promtool check metrics` (format and naming lint) on
// a text exposition.
func checkExposition(t *testing.T, promtoolBin, what, text string) {
	t.Helper()
	if !strings.Contains(text, "astroingest_objects_total") {
		t.Errorf("%s has no astroingest_objects_total:\n%s", what, tail(text))
	}
	cmd := exec.CommandContext(t.Context(), promtoolBin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}

func singleValue(t *testing.T, api promClient, expr string) float64 {
	t.Helper()
	v, err := api.query(t.Context(), expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 {
		t.Fatalf("%s: %d series %+v, want 1", expr, len(v), v)
	}
	return v[0].Values[0]
}

// waitPushed waits until Prometheus has scraped a push of group command
// made after since.
func waitPushed(t *testing.T, api promClient, command string, since time.Time) {
	t.Helper()
	expr := fmt.Sprintf(`push_time_seconds{job="astroingest", command=%q, shard="0"}`, command)
	eventually(t, 10*time.Second, "Prometheus scrapes the push of "+command, func() (bool, string) {
		v, err := api.query(t.Context(), expr)
		if err != nil || len(v) != 1 {
			return false, fmt.Sprintf("%s: %+v %v", expr, v, err)
		}
		return v[0].Values[0] >= float64(since.Unix()), fmt.Sprintf("%s = %v, want >= %d", expr, v[0].Values[0], since.Unix())
	})
}

// perEntryTokens reads a bucket's manifests (annotations/sources/*.json)
// for what a per-entry or per-run label would carry: entry IDs, object keys,
// source URL paths and run IDs.
func perEntryTokens(t *testing.T, bucketDir string) (tokens []string, entries int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(bucketDir, "annotations", "sources", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in the bucket %s: %v", bucketDir, err)
	}
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) > 1 && !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A version 2 head (ingest/annotations/FORMAT.md): records inline,
		// or in gzip'd JSON Lines parts beside it.
		var m struct {
			ID      string         `json:"id"`
			RunID   string         `json:"run_id"`
			Records []manifestItem `json:"records"`
			Parts   []struct {
				Key string `json:"key"`
			} `json:"parts"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		recs := m.Records
		for _, p := range m.Parts {
			recs = append(recs, readPart(t, filepath.Join(bucketDir, filepath.FromSlash(p.Key)))...)
		}
		if m.ID == "" || len(recs) == 0 {
			t.Fatalf("%s: manifest without id or records", f)
		}
		add(m.ID)
		add(m.RunID)
		for _, o := range recs {
			add(o.Key)
			add(o.RunID)
			if u, err := url.Parse(o.SourceURL); err == nil {
				add(u.Path)
			}
		}
	}
	return tokens, len(files)
}

// maxLabelValues bounds the distinct values of one label across every
// astroingest series here (the most are reason's 13 and le's 11): a label
// per entry, object or run would have hundreds with the demo.
const maxLabelValues = 20

// checkCardinality holds the "no per-entry labels" rule of DESIGN.md: in
// Prometheus, astroingest series carry only the known label names, each
// with a few values, none of which holds an entry ID, object key, source
// path or run ID; and the expositions hold none of those either.
func checkCardinality(t *testing.T, api promClient, tokens []string, texts map[string]string) {
	t.Helper()
	series, err := api.series(t.Context(), `{__name__=~"astroingest_.+"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 0 {
		t.Fatal("Prometheus holds no astroingest series")
	}
	var problems []string
	values := map[string]map[string]bool{}
	for _, s := range series {
		for name, value := range s {
			if !slices.Contains(allowedLabels, name) {
				problems = append(problems, fmt.Sprintf("series %v: label %q is none of %q", s, name, allowedLabels))
			}
			if values[name] == nil {
				values[name] = map[string]bool{}
			}
			values[name][value] = true
			for _, tok := range tokens {
				if strings.Contains(value, tok) {
					problems = append(problems, fmt.Sprintf("series %v: label %s holds the per-entry value %q", s, name, tok))
				}
			}
		}
		results := []string{"uploaded", "unchanged", "failed"}
		if s["__name__"] == "astroingest_bucket_operations_total" {
			results = []string{"success", "not_found", "precondition_failed", "canceled", "error"} // bucket.WithMetrics' closed set
		}
		if r, ok := s["result"]; ok && !slices.Contains(results, r) {
			problems = append(problems, fmt.Sprintf("series %v: result %q outside %q", s, r, results))
		}
	}
	for name, vs := range values {
		if name != "__name__" && len(vs) > maxLabelValues {
			problems = append(problems, fmt.Sprintf("label %s has %d values across the astroingest series, more than %d: %.500q", name, len(vs), maxLabelValues, slices.Sorted(maps.Keys(vs))))
		}
	}
	for what, text := range texts {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				problems = append(problems, fmt.Sprintf("the %s exposition holds the per-entry value %q", what, tok))
			}
		}
	}
	const shown = 8
	for i, p := range problems {
		if i == shown {
			t.Errorf("... and %d more cardinality problems", len(problems)-shown)
			break
		}
		t.Error(p)
	}
}

// dashboardVars replaces Grafana's variables the way Grafana would at a
// 1 s step over a 1 s scrape, with "All" domains.
func dashboardVars(rng time.Duration) *strings.Replacer {
	return strings.NewReplacer(
		"${domain}", ".*", "$domain", ".*",
		"$__rate_interval", rateInterval,
		"$__interval", "1s",
		"$__range", fmt.Sprintf("%ds", int(math.Ceil(rng.Seconds()))),
	)
}

// checkPanels evaluates every target of every dashboard panel and holds it
// to its expectation. The pushed row is queried at now, as Grafana's
// instant queries are. The live row's series end with the run (Prometheus
// marks them stale at the first failed scrape), so its panels are queried
// over the run's window at a 1 s step: for its time series that is what
// Grafana does, for its bar gauge it is the instant query at every moment
// of the run.
func checkPanels(t *testing.T, api promClient, phase string, live window, expect func(title string) want) {
	t.Helper()
	vars := dashboardVars(live.end.Sub(live.start))
	seen := map[string]bool{}
	for _, p := range dashboardPanels(t, readDashboard(t)) {
		seen[p.Title] = true
		pw, ok := panelWant[p.Title]
		if !ok {
			t.Errorf("panel %q has no expectation in panelWant", p.Title)
			continue
		}
		for _, tg := range p.Targets {
			if live := strings.Contains(tg.Expr, `job!="astroingest"`); live != pw.live {
				t.Errorf("panel %q target %s: reads the live scrape: %v, but panelWant says live=%v", p.Title, tg.RefID, live, pw.live)
			}
		}
		w := expect(p.Title)
		for _, tg := range p.Targets {
			expr := vars.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q target %s: unreplaced variable in %q", p.Title, tg.RefID, expr)
				continue
			}
			var res []promSeries
			var err error
			if pw.live {
				res, err = api.queryRange(t.Context(), expr, live.start, live.end.Add(scrapeEvery), time.Second)
			} else {
				res, err = api.query(t.Context(), expr)
			}
			if err != nil {
				t.Errorf("%s: panel %q target %s does not evaluate: %v", phase, p.Title, tg.RefID, err)
				continue
			}
			if msg := judge(res, w); msg != "" {
				t.Errorf("%s: panel %q target %s: want %s (%s), got %s\nexpr: %s", phase, p.Title, tg.RefID, w, pw.why, msg, expr)
			}
		}
	}
	for title := range panelWant {
		if !seen[title] {
			t.Errorf("panelWant names %q, which the dashboard does not have", title)
		}
	}
}

// judge returns "" when res meets w, else what res was.
func judge(res []promSeries, w want) string {
	positive := false
	for _, s := range res {
		if s.max() > 0 {
			positive = true
		}
	}
	switch {
	case w == wantEmpty && len(res) != 0:
		return fmt.Sprintf("%d series: %+v", len(res), res)
	case w == wantSeries && len(res) == 0, w == wantPositive && len(res) == 0:
		return "no series"
	case w == wantPositive && !positive:
		return fmt.Sprintf("no value above zero: %+v", res)
	}
	return ""
}

func alertExpr(t *testing.T, alert string) string {
	t.Helper()
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == alert {
				return r.Expr
			}
		}
	}
	t.Fatalf("rules.yaml has no alert %s", alert)
	return ""
}

// checkAlertExprs evaluates every alert's expression as a query.
func checkAlertExprs(t *testing.T, api promClient) {
	t.Helper()
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if _, err := api.query(t.Context(), r.Expr); err != nil {
				t.Errorf("alert %s: expression does not evaluate: %v", r.Alert, err)
			}
		}
	}
}

// waitAlertStates waits until /api/v1/rules shows every alert of
// rules.yaml loaded, healthy (evaluated without error) and in the state
// wanted for the alerts named in want.
func waitAlertStates(t *testing.T, api promClient, phase string, want map[string]string) {
	t.Helper()
	var fileAlerts []string
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			fileAlerts = append(fileAlerts, r.Alert)
		}
	}
	eventually(t, 10*time.Second, phase+": alert rules", func() (bool, string) {
		groups, err := api.rules(t.Context())
		if err != nil {
			return false, err.Error()
		}
		got := map[string]promRule{}
		for _, g := range groups {
			for _, r := range g.Rules {
				got[r.Name] = r
			}
		}
		var problems []string
		for _, a := range fileAlerts {
			r, ok := got[a]
			switch {
			case !ok:
				problems = append(problems, a+" not loaded")
			case r.Health != "ok":
				problems = append(problems, fmt.Sprintf("%s health %q %s", a, r.Health, r.LastError))
			case want[a] != "" && r.State != want[a]:
				problems = append(problems, fmt.Sprintf("%s state %q, want %q", a, r.State, want[a]))
			}
		}
		if len(got) != len(fileAlerts) {
			problems = append(problems, fmt.Sprintf("%d alerts loaded, rules.yaml has %d", len(got), len(fileAlerts)))
		}
		return len(problems) == 0, strings.Join(problems, "; ")
	})
}

// manifestItem is what the cardinality check reads of a record.
type manifestItem struct {
	Key       string `json:"key"`
	SourceURL string `json:"source_url"`
	RunID     string `json:"run_id"`
}

// readPart reads one gzip'd JSON Lines part of records.
func readPart(t *testing.T, path string) []manifestItem {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []manifestItem
	dec := json.NewDecoder(zr)
	for dec.More() {
		var r manifestItem
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}
