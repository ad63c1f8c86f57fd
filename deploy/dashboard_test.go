package deploy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int     `json:"id"`
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Datasource *dsRef  `json:"datasource"`
	Panels     []panel `json:"panels"` // a collapsed row's children
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
}

type dashboard struct {
	raw        map[string]json.RawMessage
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/astroingest.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/astroingest.json: %v", err)
	}
	if err := json.Unmarshal(b, &d.raw); err != nil {
		t.Fatalf("grafana/astroingest.json: %v", err)
	}
	return d
}

// dashboardPanels flattens rows into their panels, leaving out the rows.
func dashboardPanels(t *testing.T, d dashboard) []panel {
	t.Helper()
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	// File provisioning does not resolve __inputs (that is the import
	// dialog's job): a dashboard carrying them loads with broken panels.
	if _, ok := d.raw["__inputs"]; ok {
		t.Error("dashboard has __inputs; provisioning cannot fill them, use the datasource variable")
	}
	if _, ok := d.raw["id"]; ok {
		t.Error("dashboard has an id; provisioning assigns it, keep only the uid")
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || v.Type != "datasource" || q != "prometheus" {
				t.Errorf("variable datasource: type %q query %s, want type datasource, query prometheus", v.Type, v.Query)
			}
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no datasource template variable")
	}

	want := map[string]string{ // panel subject -> metric it must chart
		"progress":           "astroingest_entries",
		"throughput":         "astroingest_bytes_total",
		"failures by reason": "astroingest_entry_failures_total",
		"inflight":           "astroingest_inflight_transfers",
		"run duration":       "astroingest_run_duration_seconds",
		"last success":       "astroingest_last_success_timestamp_seconds",
		"staleness":          `state="stale"`,
	}
	seenIDs := map[int]bool{}
	var all strings.Builder
	panels := dashboardPanels(t, d)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	for _, p := range panels {
		if seenIDs[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		seenIDs[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q: no gridPos", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
			unknown, any := unknownMetrics(tg.Expr)
			if !any {
				t.Errorf("panel %q target %s: expr %q references no astroingest_ metric", p.Title, tg.RefID, tg.Expr)
			}
			if len(unknown) > 0 {
				t.Errorf("panel %q target %s: metrics not in DESIGN.md: %q", p.Title, tg.RefID, unknown)
			}
			all.WriteString(tg.Expr + "\n")
		}
	}
	for subject, metric := range want {
		if !strings.Contains(all.String(), metric) {
			t.Errorf("no panel for %s (a query on %s)", subject, metric)
		}
	}
}
