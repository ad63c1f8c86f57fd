package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var mtime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func get(t *testing.T, s *Server, method, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, b
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestServeFileConditionalAndRange(t *testing.T) {
	s := NewServer()
	defer s.Close()
	data := []byte("0123456789abcdefghij")
	s.AddFile("/d/f.bin", data, mtime)
	etag := `"` + md5hex(data) + `"`

	tests := []struct {
		name     string
		method   string
		hdr      map[string]string
		wantCode int
		wantBody string
	}{
		{"get", "GET", nil, 200, string(data)},
		{"head", "HEAD", nil, 200, ""},
		{"if-none-match same", "GET", map[string]string{"If-None-Match": etag}, 304, ""},
		{"if-none-match other", "GET", map[string]string{"If-None-Match": `"nope"`}, 200, string(data)},
		{"if-modified-since same", "GET", map[string]string{"If-Modified-Since": mtime.Format(http.TimeFormat)}, 304, ""},
		{"if-modified-since older", "GET", map[string]string{"If-Modified-Since": mtime.Add(-time.Hour).Format(http.TimeFormat)}, 200, string(data)},
		{"range", "GET", map[string]string{"Range": "bytes=5-9"}, 206, "56789"},
		{"range suffix", "GET", map[string]string{"Range": "bytes=-3"}, 206, "hij"},
		{"post refused", "POST", nil, 405, "method not allowed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, s, tc.method, "/d/f.bin", tc.hdr)
			if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == 200 {
				if got := resp.Header.Get("ETag"); got != etag {
					t.Errorf("ETag %q, want %q", got, etag)
				}
				if got := resp.Header.Get("Last-Modified"); got != mtime.Format(http.TimeFormat) {
					t.Errorf("Last-Modified %q", got)
				}
				if resp.ContentLength != int64(len(data)) {
					t.Errorf("Content-Length %d", resp.ContentLength)
				}
			}
		})
	}

	// A changed file gets a new validator, so the old one no longer matches.
	s.SetFile("/d/f.bin", []byte("changed"), mtime.Add(time.Hour))
	resp, body := get(t, s, "GET", "/d/f.bin", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 200 || string(body) != "changed" {
		t.Fatalf("after SetFile: %d %q", resp.StatusCode, body)
	}
	if s.MD5("/d/f.bin") != md5hex([]byte("changed")) {
		t.Fatal("MD5 does not follow SetFile")
	}
	s.RemoveFile("/d/f.bin")
	if resp, _ := get(t, s, "GET", "/d/f.bin", nil); resp.StatusCode != 404 {
		t.Fatalf("removed file: %d", resp.StatusCode)
	}
}

// A dynamic file has no validators and ignores Range and conditions.
func TestDynamicFile(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/cgi/out.dat", []byte("0123456789"), mtime)
	resp, _ := get(t, s, "GET", "/cgi/out.dat", nil)
	etag := resp.Header.Get("ETag")
	s.SetDynamic("/cgi/out.dat")
	s.SetDynamic("/cgi/missing") // no file: nothing happens
	for _, hdr := range []map[string]string{nil, {"Range": "bytes=4-"}, {"If-None-Match": etag}} {
		resp, body := get(t, s, "GET", "/cgi/out.dat", hdr)
		if resp.StatusCode != 200 || string(body) != "0123456789" || resp.ContentLength != 10 {
			t.Errorf("%v: %d %q (length %d)", hdr, resp.StatusCode, body, resp.ContentLength)
		}
		for _, h := range []string{"ETag", "Last-Modified", "Accept-Ranges"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%v: dynamic file sent %s: %s", hdr, h, v)
			}
		}
	}
	if resp, body := get(t, s, "HEAD", "/cgi/out.dat", nil); resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d, %d body bytes", resp.StatusCode, len(body))
	}
	if s.MD5("/cgi/out.dat") != "781e5e245d69b566979b86e28d23f2c7" {
		t.Errorf("dynamic file md5 %s", s.MD5("/cgi/out.dat"))
	}
}

func TestGeneratedContent(t *testing.T) {
	s := NewServer()
	defer s.Close()
	const size = 100_003 // not a multiple of the 8-byte word
	s.AddGenerated("/g/a", size, 1)
	s.AddGenerated("/g/b", size, 2)
	_, a := get(t, s, "GET", "/g/a", nil)
	_, a2 := get(t, s, "GET", "/g/a", nil)
	_, b := get(t, s, "GET", "/g/b", nil)
	if len(a) != size || !bytes.Equal(a, a2) {
		t.Fatalf("generated content: len %d, stable %v", len(a), bytes.Equal(a, a2))
	}
	if bytes.Equal(a, b) {
		t.Fatal("different seeds gave the same content")
	}
	if got := s.MD5("/g/a"); got != md5hex(a) {
		t.Fatalf("MD5 %s, served %s", got, md5hex(a))
	}
	for _, r := range [][2]int{{0, 0}, {3, 17}, {99_990, size - 1}, {8, 15}} {
		resp, part := get(t, s, "GET", "/g/a", map[string]string{"Range": "bytes=" + strconv.Itoa(r[0]) + "-" + strconv.Itoa(r[1])})
		if resp.StatusCode != 206 || !bytes.Equal(part, a[r[0]:r[1]+1]) {
			t.Fatalf("range %v: %d, content matches %v", r, resp.StatusCode, bytes.Equal(part, a[r[0]:r[1]+1]))
		}
	}
}

func BenchmarkGenerated(b *testing.B) {
	g := genReader{seed: 1, size: 1 << 30}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for i := 0; b.Loop(); i++ {
		_, _ = g.ReadAt(buf, int64(i%1024)*int64(len(buf)))
	}
}

func TestChecksumFiles(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/gaia/a.csv.gz", []byte("aaa"), mtime)
	s.AddFile("/gaia/b.csv.gz", []byte("bbb"), mtime)
	s.AddChecksumFile("/gaia/_MD5SUM.txt", MD5Sum)
	s.AddChecksumFile("/gaia/md5checksums.txt", MD5SumDotSlash)
	s.AddChecksumFile("/gaia/RELEASE.metalink", Metalink)

	tests := []struct {
		path string
		want string
	}{
		{"/gaia/_MD5SUM.txt", md5hex([]byte("aaa")) + "  a.csv.gz\n" + md5hex([]byte("bbb")) + "  b.csv.gz\n"},
		{"/gaia/md5checksums.txt", md5hex([]byte("aaa")) + "  ./a.csv.gz\n" + md5hex([]byte("bbb")) + "  ./b.csv.gz\n"},
	}
	for _, tc := range tests {
		resp, body := get(t, s, "GET", tc.path, nil)
		if resp.StatusCode != 200 || string(body) != tc.want {
			t.Errorf("%s: %d\n%s\nwant\n%s", tc.path, resp.StatusCode, body, tc.want)
		}
	}
	_, body := get(t, s, "GET", "/gaia/RELEASE.metalink", nil)
	var doc struct {
		Files []struct {
			Name string `xml:"name,attr"`
			Size int64  `xml:"size"`
			Hash []struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"verification>hash"`
		} `xml:"files>file"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("metalink: %v\n%s", err, body)
	}
	if len(doc.Files) != 2 || doc.Files[1].Name != "b.csv.gz" || doc.Files[1].Size != 3 ||
		doc.Files[1].Hash[0].Type != "md5" || doc.Files[1].Hash[0].Value != md5hex([]byte("bbb")) {
		t.Fatalf("metalink content: %+v", doc)
	}

	// The checksum files follow changes to the tree.
	s.SetFile("/gaia/a.csv.gz", []byte("new"), mtime)
	_, body = get(t, s, "GET", "/gaia/_MD5SUM.txt", nil)
	if !strings.Contains(string(body), md5hex([]byte("new"))+"  a.csv.gz") {
		t.Fatalf("stale checksum file:\n%s", body)
	}
}

func TestS3ListPagination(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.SetListing("/bkt/", S3)
	s.SetS3PageSize(2)
	keys := []string{"a/1", "a/2", "a/b/3", "c", "d/4"}
	for _, k := range keys {
		s.AddFile("/bkt/"+k, []byte(k), mtime)
	}
	type page struct {
		IsTruncated           bool
		NextMarker            string
		NextContinuationToken string
		Contents              []struct{ Key string }
		CommonPrefixes        []struct{ Prefix string }
	}
	list := func(q string) page {
		resp, body := get(t, s, "GET", "/bkt/?"+q, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
		var p page
		if err := xml.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name  string
		query string
		next  func(page) string
		param string
		want  []string
	}{
		{"v1 no delimiter", "", func(p page) string { return p.Contents[len(p.Contents)-1].Key }, "marker", keys},
		{"v1 delimiter", "delimiter=/", func(p page) string { return p.NextMarker }, "marker", []string{"a/", "c", "d/"}},
		{"v2 prefix", "list-type=2&prefix=a/", func(p page) string { return p.NextContinuationToken }, "continuation-token", []string{"a/1", "a/2", "a/b/3"}},
		{"v2 prefix delimiter", "list-type=2&prefix=a/&delimiter=/", func(p page) string { return p.NextContinuationToken }, "continuation-token", []string{"a/1", "a/2", "a/b/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			q := tc.query
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				p := list(q)
				if len(p.Contents)+len(p.CommonPrefixes) > 2 {
					t.Fatalf("page of %d items, page size 2", len(p.Contents)+len(p.CommonPrefixes))
				}
				var items []string
				for _, c := range p.Contents {
					items = append(items, c.Key)
				}
				for _, c := range p.CommonPrefixes {
					items = append(items, c.Prefix)
				}
				got = append(got, items...)
				if !p.IsTruncated {
					break
				}
				next := tc.next(p)
				if next == "" {
					t.Fatalf("truncated page without continuation: %+v", p)
				}
				q = tc.query + "&" + tc.param + "=" + next
			}
			if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(tc.want, ",") {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAssemblySummary(t *testing.T) {
	s := NewServer()
	defer s.Close()
	as := []Assembly{
		{Accession: "GCF_000001405.40", AsmName: "GRCh38.p14", Fields: map[string]string{"refseq_category": "reference genome", "organism_name": "Homo sapiens"}},
		{Accession: "GCF_000000001.1", AsmName: "gone", Fields: map[string]string{"ftp_path": "na"}},
	}
	s.AddAssemblySummary("/genomes/refseq/assembly_summary_refseq.txt", as)
	dir := AssemblyDir("GCF_000001405.40", "GRCh38.p14")
	if dir != "/genomes/all/GCF/000/001/405/GCF_000001405.40_GRCh38.p14" {
		t.Fatalf("AssemblyDir = %s", dir)
	}
	s.AddFile(dir+"/GCF_000001405.40_GRCh38.p14_genomic.fna.gz", []byte("ACGT"), mtime)
	_, body := get(t, s, "GET", "/genomes/refseq/assembly_summary_refseq.txt", nil)
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "#   See ") || !strings.HasPrefix(lines[1], "#assembly_accession\tbioproject\t") {
		t.Fatalf("summary:\n%s", body)
	}
	row := strings.Split(lines[2], "\t")
	if len(row) != len(AssemblySummaryColumns) || row[0] != "GCF_000001405.40" || row[4] != "reference genome" || row[19] != s.URL()+dir {
		t.Fatalf("row: %q", row)
	}
	// The second row leaves refseq_category unset: the default is the
	// category NCBI writes since 2024, never the retired one.
	if na := strings.Split(lines[3], "\t"); na[19] != "na" || na[4] != "reference genome" {
		t.Fatalf("na row: %q", lines[3])
	}
	if strings.Contains(string(body), "representative genome") {
		t.Fatalf("summary uses the retired category:\n%s", body)
	}
	_, body = get(t, s, "GET", dir+"/md5checksums.txt", nil)
	if string(body) != md5hex([]byte("ACGT"))+"  ./GCF_000001405.40_GRCh38.p14_genomic.fna.gz\n" {
		t.Fatalf("md5checksums.txt:\n%s", body)
	}
}

func TestDirectoryListingStyles(t *testing.T) {
	s := NewServer()
	defer s.Close()
	long := strings.Repeat("x", 60) + ".fits"
	for _, p := range []string{"/ap/", "/tb/", "/ng/"} {
		s.AddFile(p+"a b.nc", []byte("12345"), mtime)
		s.AddFile(p+long, make([]byte, 2048), mtime)
		s.AddFile(p+"sub/c.nc", []byte("c"), mtime)
	}
	s.SetListing("/tb/", ApacheTable)
	s.SetListing("/ng/", Nginx)
	s.SetListing("/none/", NoListing)
	s.AddFile("/none/x", []byte("x"), mtime)
	tests := []struct {
		dir      string
		contains []string
	}{
		{"/ap/", []string{`<pre><img src="/icons/blank.gif"`, `<a href="?C=N;O=D">Name</a>`, `<a href="a%20b.nc">a b.nc</a>`, `<a href="sub/">sub/</a>`, `..&gt;</a>`, `<a href="` + long + `">`, " 2.0K", "2024-05-01 12:00", "Parent Directory"}},
		{"/tb/", []string{`<table>`, `<td><a href="a%20b.nc">a b.nc</a></td>`, `<td align="right">2.0K</td>`, `[PARENTDIR]`}},
		{"/ng/", []string{`<a href="../">../</a>`, `<a href="sub/">sub/</a>`, "01-May-2024 12:00                2048", "..&gt;</a>"}},
	}
	for _, tc := range tests {
		resp, body := get(t, s, "GET", tc.dir, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tc.dir, resp.StatusCode)
		}
		for _, c := range tc.contains {
			if !strings.Contains(string(body), c) {
				t.Errorf("%s listing lacks %q:\n%s", tc.dir, c, body)
			}
		}
	}
	if resp, _ := get(t, s, "GET", "/ap", nil); resp.StatusCode != 301 || resp.Header.Get("Location") != "/ap/" {
		t.Errorf("directory without slash: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, s, "GET", "/none/", nil); resp.StatusCode != 403 {
		t.Errorf("NoListing: %d", resp.StatusCode)
	}
	if resp, _ := get(t, s, "GET", "/missing/", nil); resp.StatusCode != 404 {
		t.Errorf("missing dir: %d", resp.StatusCode)
	}
}
