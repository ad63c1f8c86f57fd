package refresh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/mast"
)

// publishers serves the sample indexes and returns the bases pointing at
// them.
func publishers(t *testing.T) (*emulator.Server, Bases) {
	t.Helper()
	s := emulator.NewServer()
	t.Cleanup(s.Close)
	s.ServeIndexSamples()
	return s, Bases{
		MASTArchive: s.URL(),
		MAST:        s.URL(),
		GTDB:        s.URL() + emulator.GTDBReleasesPath,
		KEGG:        s.URL(),
		HAPI:        s.URL() + emulator.HAPIPath,
	}
}

func spec(t *testing.T, b Bases, name string) Spec {
	t.Helper()
	for _, sp := range Specs(b) {
		if sp.Refresher.Name() == name {
			return sp
		}
	}
	t.Fatalf("no refresher %s", name)
	return Spec{}
}

// got runs a refresher and returns its rows joined, one "a,b" per row.
func got(t *testing.T, s *emulator.Server, r Refresher) (Table, string) {
	t.Helper()
	tab, err := r.Refresh(context.Background(), s.Client())
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, row := range tab.Rows {
		rs = append(rs, strings.Join(row, ","))
	}
	return tab, strings.Join(rs, " ")
}

func TestTESS(t *testing.T) {
	s, b := publishers(t)
	spoc := spec(t, b, "tess-spoc-sectors").Refresher.(TESS)
	fast := spec(t, b, "tess-spoc-fast-sectors").Refresher.(TESS)
	const wantSPOC = "lc,1 lc,27 lc,95 lc,96 lc,106 tp,1 tp,27 tp,95 tp,96 tp,106 dv,1 dv,27 dv,95 dv,96 dv,106 cbv,1 cbv,27 cbv,95"
	// The bulk-download page, and the script directory's listing, give
	// the same table.
	for _, index := range []string{spoc.Index, s.URL() + emulator.TESSScriptDir} {
		spoc.Index, fast.Index = index, index
		tab, rows := got(t, s, spoc)
		if rows != wantSPOC || strings.Join(tab.Columns, ",") != "product,sector" {
			t.Errorf("%s: spoc rows %s, want %s", index, rows, wantSPOC)
		}
		if _, rows := got(t, s, fast); rows != "fast-lc,27 fast-lc,95 fast-tp,27 fast-tp,95" {
			t.Errorf("%s: fast rows %s", index, rows)
		}
	}
}

func TestGTDB(t *testing.T) {
	s, b := publishers(t)
	s.ResetRequests()
	tab, _ := got(t, s, spec(t, b, "gtdb-release-files").Refresher)
	md5 := func(rel, v string) string { return gtdbPublic + rel + "/" + v + "/MD5SUM.txt" }
	want := [][]string{
		{"release202", "202.0", "bac120-taxonomy", "bac120_taxonomy_r202.tsv.gz", ""},
		{"release202", "202.0", "ar122-taxonomy", "ar122_taxonomy_r202.tsv.gz", ""},
		{"release202", "202.0", "bac120-metadata", "bac120_metadata_r202.tar.gz", ""},
		{"release202", "202.0", "ar122-metadata", "ar122_metadata_r202.tar.gz", ""},
		{"release202", "202.0", "bac120-tree", "bac120_r202.tree", ""},
		{"release202", "202.0", "ar122-tree", "ar122_r202.tree", ""},
		{"release202", "202.0", "genomes-reps", "genomic_files_reps/gtdb_genomes_reps_r202.tar.gz", ""},
		{"release202", "202.0", "gtdbtk-data", "auxillary_files/gtdbtk_r202_data.tar.gz", ""},
		{"release214", "214.1", "bac120-taxonomy", "bac120_taxonomy_r214.tsv.gz", md5("release214", "214.1")},
		{"release214", "214.1", "ar53-taxonomy", "ar53_taxonomy_r214.tsv.gz", md5("release214", "214.1")},
		{"release214", "214.1", "bac120-metadata", "bac120_metadata_r214.tsv.gz", md5("release214", "214.1")},
		{"release214", "214.1", "bac120-tree", "bac120_r214.tree", md5("release214", "214.1")},
		{"release214", "214.1", "gtdbtk-data", "auxillary_files/gtdbtk_r214_data.tar.gz", md5("release214", "214.1")},
		{"release226", "226.0", "bac120-taxonomy", "bac120_taxonomy_r226.tsv.gz", md5("release226", "226.0")},
		{"release226", "226.0", "ar53-taxonomy", "ar53_taxonomy_r226.tsv.gz", md5("release226", "226.0")},
		{"release226", "226.0", "bac120-metadata", "bac120_metadata_r226.tsv.gz", md5("release226", "226.0")},
		{"release226", "226.0", "ar53-metadata", "ar53_metadata_r226.tsv.gz", md5("release226", "226.0")},
		{"release226", "226.0", "bac120-tree", "bac120_r226.tree.gz", md5("release226", "226.0")},
		{"release226", "226.0", "ar53-tree", "ar53_r226.tree.gz", md5("release226", "226.0")},
		{"release226", "226.0", "genomes-reps", "genomic_files_reps/gtdb_genomes_reps_r226.tar.gz", md5("release226", "226.0")},
		{"release226", "226.0", "ssu-all", "genomic_files_all/ssu_all_r226.fna.gz", md5("release226", "226.0")},
		{"release226", "226.0", "gtdbtk-data", "auxillary_files/gtdbtk_package/full_package/gtdbtk_r226_data.tar.gz", md5("release226", "226.0")},
	}
	if len(tab.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %q", len(tab.Rows), len(want), tab.Rows)
	}
	for i, w := range want {
		if strings.Join(tab.Rows[i], " ") != strings.Join(w, " ") {
			t.Errorf("row %d: %q, want %q", i, tab.Rows[i], w)
		}
	}
	// Politeness: each listing once, only directories that exist, never
	// the superseded 214.0 nor latest/.
	for _, p := range []string{"/releases/release214/214.0/", "/releases/latest/", "/releases/release202/202.0/genomic_files_all/"} {
		if n := s.Requests(p); n != 0 {
			t.Errorf("%s read %d times", p, n)
		}
	}
	if n := s.Requests("/releases/release226/226.0/"); n != 1 {
		t.Errorf("226.0 listed %d times, want 1", n)
	}
	if n := s.TotalRequests(); n != 15 {
		t.Errorf("%d requests, want 15 (releases/, three release, three version and eight subdirectory listings)", n)
	}
}

func TestKEGG(t *testing.T) {
	s, b := publishers(t)
	k := spec(t, b, "kegg-organisms").Refresher
	if _, rows := got(t, s, k); rows != "aae ath eco hsa mmu sce" {
		t.Errorf("rows %s", rows)
	}
	for _, body := range []string{"T01001 hsa Homo sapiens\n", "<html>Service Unavailable</html>\n", "\n"} {
		s.AddFile("/list/organism", []byte(body), time.Now())
		want := sources.ReasonBadResponse
		if strings.HasPrefix(body, "<html>") {
			want = sources.ReasonUnexpectedContentType // a page where the list should be
		}
		if _, err := k.Refresh(context.Background(), s.Client()); err == nil || sources.ReasonOf(err) != want || !strings.Contains(err.Error(), "/list/organism") {
			t.Errorf("%q: err %v, want %s naming the URL", body, err, want)
		}
	}
}

func TestJWST(t *testing.T) {
	s, b := publishers(t)
	j := spec(t, b, "jwst-programs").Refresher.(JWST)
	j.Options = mast.Options{PageSize: 2, PollInterval: time.Millisecond}
	if _, rows := got(t, s, j); rows != "1180 1366 2736 6585" {
		t.Errorf("rows %s, want the public JWST programs", rows)
	}
	// MAST keeps the five public JWST observations: three pages of two.
	log := s.RequestLog("/api/v0/invoke")
	if len(log) != 3 {
		t.Errorf("%d invoke requests, want 3 pages of 2", len(log))
	}
}

func TestHITRAN(t *testing.T) {
	s, b := publishers(t)
	h := spec(t, b, "hitran-isotopologues").Refresher
	const want = "01,H2O,1 01,H2O,2 01,H2O,129 02,CO2,7 02,CO2,121 02,CO2,15 03,O3,16 07,O2,36 36,NOp,87 56,H3p,158 61,ClNO2,155 61,ClNO2,156"
	if _, rows := got(t, s, h); rows != want {
		t.Errorf("rows\n%s\nwant\n%s", rows, want)
	}
	s.AddFile(emulator.HAPIPath, []byte("ISO = {\r\n(  1,  1 ):    [      1,  H2O ],\r\n}\r\n"), time.Now())
	if _, err := h.Refresh(context.Background(), s.Client()); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed entry: %v", err)
	}
	s.AddFile(emulator.HAPIPath, []byte("print('HAPI')\n"), time.Now())
	if _, err := h.Refresh(context.Background(), s.Client()); err == nil || !strings.Contains(err.Error(), "has no ISO = {") {
		t.Errorf("no table: %v", err)
	}
}

// A publisher answering 503 fails its refresher with http_5xx, naming the
// URL; a page of something else is bad_response.
func TestRefreshFailures(t *testing.T) {
	s, b := publishers(t)
	s.Fault("/**", emulator.Fault{Kind: emulator.Unavailable})
	for _, sp := range Specs(b) {
		_, err := sp.Refresher.Refresh(context.Background(), s.Client())
		if err == nil || sources.ReasonOf(err) != sources.ReasonHTTP5xx || !strings.Contains(err.Error(), s.URL()) {
			t.Errorf("%s: err %v, want http_5xx naming %s", sp.Refresher.Name(), err, s.URL())
		}
	}
	s2, b2 := publishers(t)
	for _, p := range []string{emulator.TESSBulkIndexPath, emulator.HAPIPath} {
		s2.AddFile(p, []byte("<html><body>Maintenance</body></html>"), time.Now())
	}
	s2.Fault("/releases/", emulator.Fault{Kind: emulator.Status, Code: 404})
	for _, name := range []string{"tess-spoc-sectors", "hitran-isotopologues"} {
		if _, err := spec(t, b2, name).Refresher.Refresh(context.Background(), s2.Client()); err == nil || sources.ReasonOf(err) != sources.ReasonBadResponse {
			t.Errorf("%s: err %v, want bad_response", name, err)
		}
	}
	if _, err := spec(t, b2, "gtdb-release-files").Refresher.Refresh(context.Background(), s2.Client()); err == nil || sources.ReasonOf(err) != sources.ReasonHTTP404 {
		t.Errorf("gtdb with no listing: %v, want http_404", err)
	}
}
