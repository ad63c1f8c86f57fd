package refresh

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// KEGG regenerates tables/kegg-organisms.tsv (org) from KEGG's
// /list/organism, which answers one tab-separated line per organism with
// no header: T number, organism code, name, lineage with ";"
// ("T01001\thsa\tHomo sapiens (human)\tEukaryotes;Animals;Vertebrates;
// Mammals", as the KEGG API manual and public clients show it). The codes
// are sorted; the host's usage gate (academic use) is the caller's to
// honour, as for every KEGG request.
type KEGG struct {
	List string // https://rest.kegg.jp/list/organism
}

// Name implements Refresher.
func (KEGG) Name() string { return "kegg-organisms" }

var (
	keggTNumberRE = regexp.MustCompile(`^T[0-9]{5}$`)
	keggCodeRE    = regexp.MustCompile(`^[a-z0-9]{3,5}$`)
)

// Refresh implements Refresher.
func (k KEGG) Refresh(ctx context.Context, c *http.Client) (Table, error) {
	body, err := listing.Get(ctx, c, k.List)
	if err != nil {
		return Table{}, err
	}
	seen := map[string]bool{}
	tab := Table{Columns: []string{"org"}, Key: []string{"org"}, Less: func(a, b []string) bool { return a[0] < b[0] }}
	for i, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 || !keggTNumberRE.MatchString(f[0]) || !keggCodeRE.MatchString(f[1]) {
			return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: %q is not \"T number<TAB>code<TAB>name<TAB>lineage\"", k.List, i+1, clip(line))}
		}
		if !seen[f[1]] {
			seen[f[1]] = true
			tab.Rows = append(tab.Rows, []string{f[1]})
		}
	}
	if len(tab.Rows) == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: k.List + " lists no organisms"}
	}
	sort.Slice(tab.Rows, func(i, j int) bool { return tab.Less(tab.Rows[i], tab.Rows[j]) })
	return tab, nil
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
