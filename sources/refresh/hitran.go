package refresh

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// HITRAN regenerates tables/hitran-isotopologues.tsv (mol, molecule, gid)
// from the ISO table of HAPI, HITRAN's own API client (hitranonline/hapi,
// hapi/hapi.py): the dictionary from (molecule, local isotopologue) to
// [global ID, iso_name, abundance, mass, mol_name], one line each between
// "ISO = {" and "}",
//
//	(  1,  1 ):    [      1,  'H2(16O)',                 9.973173E-01,  1.8010565E+01,  'H2O'         ],
//
// The global IDs are what /lbl/api takes as iso_ids_list, and mol_name is
// the table's molecule (NOp for NO+, H3p for H3+). Rows keep HAPI's order:
// by molecule, then local number. HITRAN's iso-meta web page shows the
// same isotopologues, but no public client shows its layout beyond column
// positions, nor the names HAPI gives; the file is read as text, never run.
type HITRAN struct {
	HAPI string // hapi.py's URL
}

// Name implements Refresher.
func (HITRAN) Name() string { return "hitran-isotopologues" }

// hapiISORE is one line of the ISO table; it allows the spacing of older
// HAPI versions ("(   1, 1): [  1,  'H2(16O)', ...").
var hapiISORE = regexp.MustCompile(`^\(\s*([0-9]+)\s*,\s*([0-9A-Za-z]+)\s*\)\s*:\s*\[\s*([0-9]+)\s*,\s*'([^']*)'\s*,\s*[^,]+,\s*[^,]+,\s*'([^']*)'\s*\]\s*,?\s*$`)

// Refresh implements Refresher.
func (h HITRAN) Refresh(ctx context.Context, c *http.Client) (Table, error) {
	body, err := listing.Get(ctx, c, h.HAPI)
	if err != nil {
		return Table{}, err
	}
	type iso struct {
		mol  int
		name string
		gid  string
	}
	var isos []iso
	in, closed := false, false
	for i, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case !in && strings.HasPrefix(line, "ISO = {"):
			in = true
		case in && strings.HasPrefix(line, "}"):
			in, closed = false, true
		case in && strings.TrimSpace(line) != "" && !strings.HasPrefix(strings.TrimSpace(line), "#"):
			m := hapiISORE.FindStringSubmatch(line)
			if m == nil {
				return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: %q is not an ISO entry \"(M, I): [id, 'iso_name', abundance, mass, 'mol_name'],\"", h.HAPI, i+1, clip(line))}
			}
			mol, _ := strconv.Atoi(m[1])
			isos = append(isos, iso{mol: mol, name: m[5], gid: m[3]})
		}
		if closed {
			break
		}
	}
	if !closed || len(isos) == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s has no ISO = { ... } table: is it HAPI's hapi.py?", h.HAPI)}
	}
	sort.SliceStable(isos, func(a, b int) bool { return isos[a].mol < isos[b].mol })
	// Less orders by molecule only: within one, HAPI's order stands, and a
	// kept row stays after the row it followed.
	tab := Table{Columns: []string{"mol", "molecule", "gid"}, Key: []string{"gid"}, Less: func(a, b []string) bool { return atoi(a[0]) < atoi(b[0]) }}
	for _, s := range isos {
		tab.Rows = append(tab.Rows, []string{fmt.Sprintf("%02d", s.mol), s.name, s.gid})
	}
	return tab, nil
}
