package refresh

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/mast"
)

// JWST regenerates tables/jwst-programs.tsv (program) from MAST's CAOM
// catalogue: the distinct proposal_id of every JWST observation with
// public data, by the query the family itself runs per program
// (Mast.Caom.Filtered with obs_collection JWST and dataRights PUBLIC),
// asking only for the proposal_id column (MAST's "columns" param, as
// public clients send it) and paging through the answer. Programs are
// sorted by number.
type JWST struct {
	MAST    string       // https://mast.stsci.edu
	Options mast.Options // paging and polling; zero for the kind's defaults
}

// Name implements Refresher.
func (JWST) Name() string { return "jwst-programs" }

var jwstProgramRE = regexp.MustCompile(`^[0-9]{1,6}$`)

// Refresh implements Refresher.
func (j JWST) Refresh(ctx context.Context, c *http.Client) (Table, error) {
	params := map[string]any{
		"columns": "proposal_id",
		"filters": []map[string]any{
			{"paramName": "obs_collection", "values": []string{"JWST"}},
			{"paramName": "dataRights", "values": []string{"PUBLIC"}},
		},
	}
	rows, err := mast.Query(ctx, c, j.MAST, "Mast.Caom.Filtered", params, j.Options)
	if err != nil {
		return Table{}, err
	}
	seen := map[string]bool{}
	var programs []string
	for _, r := range rows {
		p := fmt.Sprint(r["proposal_id"])
		if r["proposal_id"] == nil || p == "" {
			continue // calibration and engineering observations may have none
		}
		if !jwstProgramRE.MatchString(p) {
			return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: JWST observation with proposal_id %q, not a program number", clip(p))}
		}
		if !seen[p] {
			seen[p] = true
			programs = append(programs, p)
		}
	}
	if len(programs) == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: %s found no public JWST observation", j.MAST)}
	}
	tab := Table{Columns: []string{"program"}, Key: []string{"program"}, Less: func(a, b []string) bool {
		x, y := atoi(a[0]), atoi(b[0])
		return x < y || x == y && a[0] < b[0]
	}}
	for _, p := range programs {
		tab.Rows = append(tab.Rows, []string{p})
	}
	sort.Slice(tab.Rows, func(a, b int) bool { return tab.Less(tab.Rows[a], tab.Rows[b]) })
	return tab, nil
}
