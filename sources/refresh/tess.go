package refresh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// tessBulkPath is MAST's TESS bulk-download page, which links every
// per-sector script (the registry's tess.yaml gives the evidence).
const tessBulkPath = "/tess/bulk_downloads/bulk_downloads_ffi-tp-lc-dv.html"

// TESS regenerates a table of (product, sector) pairs with a bulk-download
// script, tesscurl_sector_<sector>_<product>.sh, from a page that links
// them: MAST's bulk-download page, or the script directory's listing
// (archive.stsci.edu/missions/tess/download_scripts/sector/), which public
// downloaders read the same way, matching the script names in its links.
//
// Rows are grouped by product in the order of Products, sectors ascending.
// Links to other products (the FFI scripts ffic and ffir, multi-sector
// dv) are not this table's. Sector numbers of four digits are left out:
// MAST lists special campaigns so (sector 1751, the 3I/ATLAS campaign of
// FFIs), and SPOC target sectors are counted from 1 at about 13 a year.
type TESS struct {
	Table    string   // the table's name
	Index    string   // the page's URL
	Products []string // the script products this table holds
}

// Name implements Refresher.
func (t TESS) Name() string { return t.Table }

var (
	hrefRE       = regexp.MustCompile(`(?i)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
	tessScriptRE = regexp.MustCompile(`^tesscurl_sector_([0-9]+)_([a-z][a-z-]*)\.sh$`)
)

// maxTESSSector bounds the sector numbers kept (see TESS).
const maxTESSSector = 999

// less orders rows by product, in the order of Products, then by sector.
func (t TESS) less(a, b []string) bool {
	pa, pb := slices.Index(t.Products, a[0]), slices.Index(t.Products, b[0])
	if pa != pb {
		return pa < pb
	}
	return atoi(a[1]) < atoi(b[1])
}

// atoi is a table value's number, 0 when it has none; for ordering.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Refresh implements Refresher.
func (t TESS) Refresh(ctx context.Context, c *http.Client) (Table, error) {
	body, err := listing.GetPage(ctx, c, t.Index)
	if err != nil {
		return Table{}, err
	}
	base, err := url.Parse(t.Index)
	if err != nil {
		return Table{}, fmt.Errorf("index URL %q: %w", t.Index, err)
	}
	sectors := map[string]map[int]bool{}
	scripts := 0
	for _, m := range hrefRE.FindAllStringSubmatch(string(body), -1) {
		ref, err := url.Parse(strings.TrimSpace(m[1] + m[2] + m[3]))
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		sm := tessScriptRE.FindStringSubmatch(path.Base(u.Path))
		// The families' URL template names the scripts' directory; a link
		// elsewhere would make rows whose scripts are not there.
		if sm == nil || !strings.HasSuffix(path.Dir(u.Path), "/download_scripts/sector") {
			continue
		}
		scripts++
		n, err := strconv.Atoi(sm[1])
		if err != nil || n < 1 || n > maxTESSSector || !slices.Contains(t.Products, sm[2]) {
			continue
		}
		if sectors[sm[2]] == nil {
			sectors[sm[2]] = map[int]bool{}
		}
		sectors[sm[2]][n] = true
	}
	if scripts == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s links no tesscurl_sector_<N>_<product>.sh scripts: is it MAST's bulk-download page or script directory?", t.Index)}
	}
	tab := Table{Columns: []string{"product", "sector"}, Key: []string{"product", "sector"}, Less: t.less}
	for _, p := range t.Products {
		var ns []int
		for n := range sectors[p] {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		for _, n := range ns {
			tab.Rows = append(tab.Rows, []string{p, strconv.Itoa(n)})
		}
	}
	if len(tab.Rows) == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s links %d scripts but none of %s", t.Index, scripts, strings.Join(t.Products, ", "))}
	}
	return tab, nil
}
