package emulator

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// Each index is checked against what its public clients match, so a
// change of layout that would break them breaks these tests.

func TestTESSBulkIndex(t *testing.T) {
	page := string(RenderTESSBulkIndex([]string{"tesscurl_sector_2_lc.sh", "tesscurl_sector_1_ffic.sh"}))
	// The line pattern of a public downloader (re.match per line).
	row := regexp.MustCompile(`^\s*<td [\s\S]*><a href="(\S+)">(tesscurl_sector_\d+_[a-z\-]+\.sh)</a></td>`)
	var got []string
	for _, line := range strings.Split(page, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			got = append(got, "https://archive.stsci.edu"+m[1])
		}
	}
	want := []string{
		"https://archive.stsci.edu/missions/tess/download_scripts/sector/tesscurl_sector_2_lc.sh",
		"https://archive.stsci.edu/missions/tess/download_scripts/sector/tesscurl_sector_1_ffic.sh",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || !strings.Contains(page, "<table") {
		t.Fatalf("script links %q, want %q in a table:\n%s", got, want, page)
	}
}

func TestGTDBListing(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.SetListing("/releases/", GTDBListing)
	mod := time.Date(2021, 4, 27, 2, 7, 0, 0, time.UTC)
	s.AddFile("/releases/release202/202.0/MD5SUM.txt", []byte("x"), mod)
	s.AddFile("/releases/release202/202.0/bac120_r202.tree", []byte("(a);"), mod)
	_, body := get(t, s, "GET", "/releases/", nil)
	// A Rust client's directory-row pattern.
	dirRow := regexp.MustCompile(`<tr>\s*<td><img[^>]*></td>\s*<td class="n">\s*<a href="([^"]+)/">[^<]*</a>\s*/\s*</td>\s*<td class="m">([^<]+)</td>`)
	var dirs []string
	for _, m := range dirRow.FindAllStringSubmatch(string(body), -1) {
		if _, err := time.Parse("2006-01-02 15:04", strings.TrimSpace(m[2])); err == nil {
			dirs = append(dirs, m[1])
		}
	}
	if strings.Join(dirs, " ") != "release202" || !strings.Contains(string(body), "<tbody>") {
		t.Fatalf("dated directory rows %q, want release202:\n%s", dirs, body)
	}
	_, body = get(t, s, "GET", "/releases/release202/202.0/", nil)
	// The same client's file-link pattern, and the Type cell another reads.
	fileLink := regexp.MustCompile(`<a class="plausible-event-name=Download" href="([^"]+)">`)
	var files []string
	for _, m := range fileLink.FindAllStringSubmatch(string(body), -1) {
		files = append(files, m[1])
	}
	if strings.Join(files, " ") != "MD5SUM.txt bac120_r202.tree" || strings.Count(string(body), `<td class="t">File</td>`) != 2 {
		t.Fatalf("file links %q:\n%s", files, body)
	}
}

func TestKEGGOrganisms(t *testing.T) {
	got := string(RenderKEGGOrganisms([]KEGGOrganism{{"T01001", "hsa", "Homo sapiens (human)", "Eukaryotes;Animals;Vertebrates;Mammals"}}))
	if want := "T01001\thsa\tHomo sapiens (human)\tEukaryotes;Animals;Vertebrates;Mammals\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestHAPI(t *testing.T) {
	got := string(RenderHAPI("1.3.0.0", []HAPIIsotopologue{
		{1, 1, 1, "H2(16O)", 9.973173e-01, 1.8010565e+01, "H2O"},
		{49, 2, 125, "(12C)(16O)(35Cl)(37Cl)", 3.622350e-01, 9.9929672e+01, "COCl2"},
	}))
	// Lines copied from hapi/hapi.py (HAPI 1.3.0.0), CRLF and all.
	for _, line := range []string{
		"\r\nISO = {\r\n",
		"\r\n(  1,  1 ):    [      1,  'H2(16O)',                 9.973173E-01,  1.8010565E+01,  'H2O'         ], \r\n",
		"\r\n( 49,  2 ):    [    125,  '(12C)(16O)(35Cl)(37Cl)',  3.622350E-01,  9.9929672E+01,  'COCl2'       ], \r\n}\r\n",
		"HAPI_VERSION = '1.3.0.0'; __version__ = HAPI_VERSION\r\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("hapi.py lacks %q:\n%s", line, got)
		}
	}
}
