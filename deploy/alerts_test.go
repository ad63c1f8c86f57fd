package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

// designMetrics are the metric names of DESIGN.md ("Metrics"), as exposed:
// a histogram adds _bucket, _sum and _count. Rules and panels may use only
// these (plus the Pushgateway's own push_* series), so a misspelt name,
// which PromQL would silently answer with nothing, fails here.
var designMetrics = []string{
	"astroingest_objects_total",
	"astroingest_bytes_total",
	"astroingest_entry_failures_total",
	"astroingest_inflight_transfers",
	"astroingest_transfer_duration_seconds_bucket",
	"astroingest_transfer_duration_seconds_sum",
	"astroingest_transfer_duration_seconds_count",
	"astroingest_http_requests_total",
	"astroingest_run_duration_seconds",
	"astroingest_last_success_timestamp_seconds",
	"astroingest_last_busy_timestamp_seconds",
	"astroingest_entries",
}

var metricRef = regexp.MustCompile(`\bastroingest_[a-z0-9_]+`)

// unknownMetrics returns the astroingest_ names in expr that DESIGN.md does
// not define, and whether expr names any astroingest_ metric at all.
func unknownMetrics(expr string) (unknown []string, any bool) {
	for _, m := range metricRef.FindAllString(expr, -1) {
		any = true
		if !slices.Contains(designMetrics, m) {
			unknown = append(unknown, m)
		}
	}
	return unknown, any
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile("prometheus/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("prometheus/rules.yaml: %v", err)
	}
	return rf
}

// wantAlerts are the alerts issue 5 asks for; the deploy README has a
// runbook section for each.
var wantAlerts = []string{
	"AstroingestNoRecentSuccess",
	"AstroingestNeverPushed",
	"AstroingestHighFailureRatio",
	"AstroingestEntriesStale",
	"AstroingestPushFailing",
}

func TestAlertRules(t *testing.T) {
	rf := readRules(t)
	anchors := readmeAnchors(t)
	var got []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			t.Run(r.Alert, func(t *testing.T) {
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("annotation %s is empty", a)
					}
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity %q, want warning or critical", s)
				}
				_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "/deploy/README.md#")
				if !anchors[anchor] || anchor != strings.ToLower(r.Alert) {
					t.Errorf("runbook_url %q does not point at the %q heading of deploy/README.md", r.Annotations["runbook_url"], r.Alert)
				}
				unknown, any := unknownMetrics(r.Expr)
				if len(unknown) > 0 {
					t.Errorf("expr uses metrics not in DESIGN.md: %q", unknown)
				}
				if !any && !strings.Contains(r.Expr, "push_") {
					t.Errorf("expr %q reads neither astroingest_ nor Pushgateway metrics", r.Expr)
				}
				// Only pushed results: the live scrape ends with the pod.
				for _, sel := range regexp.MustCompile(`(?:astroingest_[a-z_]+|push_[a-z_]+)(\{[^}]*\})?`).FindAllStringSubmatch(r.Expr, -1) {
					if !strings.Contains(sel[1], `job="astroingest"`) {
						t.Errorf("selector %q lacks job=\"astroingest\" (the pushed series)", sel[0])
					}
				}
			})
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantAlerts))) {
		t.Errorf("alerts %q, want %q", got, wantAlerts)
	}
}

// readmeAnchors returns the GitHub anchors of deploy/README.md's headings.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	nonSlug := regexp.MustCompile(`[^a-z0-9 _-]`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		anchors[strings.ReplaceAll(nonSlug.ReplaceAllString(h, ""), " ", "-")] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

// TestAlertsMatchSchedule ties the "twice the schedule interval" of the
// staleness alerts to the CronJob's actual schedule.
func TestAlertsMatchSchedule(t *testing.T) {
	var schedule string
	for _, o := range build(t, "overlays/scheduled") {
		if cj, ok := o.obj.(*batchv1.CronJob); ok {
			schedule = cj.Spec.Schedule
		}
	}
	interval, err := scheduleInterval(schedule)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]struct{ expr, forDur string }{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = struct{ expr, forDur string }{r.Expr, r.For}
		}
	}
	m := regexp.MustCompile(`>\s*2\s*\*\s*(\d+)\s*$`).FindStringSubmatch(strings.TrimSpace(rules["AstroingestNoRecentSuccess"].expr))
	if m == nil {
		t.Fatalf("AstroingestNoRecentSuccess expr %q does not end in `> 2 * SECONDS`", rules["AstroingestNoRecentSuccess"].expr)
	}
	if secs, _ := strconv.Atoi(m[1]); time.Duration(secs)*time.Second != interval {
		t.Errorf("AstroingestNoRecentSuccess uses 2 * %ss, the schedule %q runs every %s", m[1], schedule, interval)
	}
	d, err := promDuration(rules["AstroingestNeverPushed"].forDur)
	if err != nil || d != 2*interval {
		t.Errorf("AstroingestNeverPushed for: %q (%v), want twice the schedule interval %s", rules["AstroingestNeverPushed"].forDur, err, 2*interval)
	}
}

// promDuration parses the Prometheus durations the rules use (Go's units
// plus d and w).
func promDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			return time.Duration(v) * unit, err
		}
	}
	return time.ParseDuration(s)
}

// TestRuleTestsCoverEveryAlert wants, for every alert, a promtool case where
// it fires and one where it does not.
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	b, err := os.ReadFile("prometheus/rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rt struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &rt); err != nil {
		t.Fatalf("prometheus/rules_test.yaml: %v", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range rt.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, a := range wantAlerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: firing case %v, not-firing case %v; want both", a, fires[a], quiet[a])
		}
	}
}

// promtool finds promtool (Debian package prometheus). It is required in CI
// and skipped without it locally.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found in CI (apt-get install prometheus): %v", err)
		}
		t.Skipf("promtool not found (apt-get install prometheus); required in CI: %v", err)
	}
	return p
}

func runPromtool(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtool(t *testing.T) {
	bin := promtool(t)
	t.Run("check rules", func(t *testing.T) { runPromtool(t, bin, "prometheus", "check", "rules", "rules.yaml") })
	t.Run("test rules", func(t *testing.T) { runPromtool(t, bin, "prometheus", "test", "rules", "rules_test.yaml") })
	t.Run("dashboard queries parse", func(t *testing.T) {
		// promtool has no bare PromQL check, so each panel query becomes a
		// recording rule, with Grafana's variables replaced by values.
		vars := strings.NewReplacer("$__rate_interval", "5m", "$domain", ".*", "${domain}", ".*")
		var rf strings.Builder
		rf.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		for _, p := range dashboardPanels(t, readDashboard(t)) {
			for _, tg := range p.Targets {
				expr, err := json.Marshal(vars.Replace(tg.Expr))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&rf, "      - record: dashboard:panel%d_%s\n        expr: %s\n", p.ID, tg.RefID, expr)
			}
		}
		path := filepath.Join(t.TempDir(), "dashboard_rules.yaml")
		if err := os.WriteFile(path, []byte(rf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, bin, ".", "check", "rules", path)
	})
}
