package index

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

var mt = time.Date(2024, 6, 1, 10, 30, 0, 0, time.UTC)

// tree is one emulated directory, mounted under several prefixes.
var tree = map[string][]byte{
	"a.nc":            []byte("12345"),
	"b.csv":           make([]byte, 2000),
	"c d.nc":          []byte("space"),
	"sub/c.nc":        []byte("sub-c"),
	"sub/deep/e.nc":   []byte("deep-e"),
	"sub/deep/f.txt":  []byte("deep-f"),
	"other/_skip.txt": []byte("x"),
}

func names(objs []sources.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

func TestEmulatedListings(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	roots := map[string]emulator.ListingStyle{
		"/apache/": emulator.ApacheFancy, "/table/": emulator.ApacheTable,
		"/nginx/": emulator.Nginx, "/bkt/": emulator.S3,
	}
	for root, style := range roots {
		s.SetListing(root, style)
		for name, data := range tree {
			s.AddFile(root+"d/"+name, data, mt)
		}
		if style != emulator.S3 {
			s.AddChecksumFile(root+"d/_MD5SUM.txt", emulator.MD5Sum)
		}
	}
	s.SetS3PageSize(2)

	top := []string{"a.nc", "b.csv", "c d.nc"}
	all := []string{"a.nc", "b.csv", "c d.nc", "other/_skip.txt", "sub/c.nc", "sub/deep/e.nc", "sub/deep/f.txt"}
	depth1 := []string{"a.nc", "b.csv", "c d.nc", "other/_skip.txt", "sub/c.nc"}
	urls := map[string]string{
		"apache": "/apache/d/", "table": "/table/d", "nginx": "/nginx/d/",
		"s3v1": "/bkt/?prefix=d/", "s3v2": "/bkt?list-type=2&prefix=d/",
	}
	cases := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"flat", nil, top},
		{"recursive", map[string]string{"recursive": "true"}, all},
		{"max_depth 1", map[string]string{"recursive": "true", "max_depth": "1"}, depth1},
		{"include nc", map[string]string{"recursive": "true", "include": "*.nc"}, []string{"a.nc", "c d.nc", "sub/c.nc", "sub/deep/e.nc"}},
		{"exclude", map[string]string{"recursive": "true", "exclude": "_*, *.csv"}, []string{"a.nc", "c d.nc", "sub/c.nc", "sub/deep/e.nc", "sub/deep/f.txt"}},
		{"path glob", map[string]string{"recursive": "true", "include": "sub/deep/*"}, []string{"sub/deep/e.nc", "sub/deep/f.txt"}},
	}
	for style, u := range urls {
		for _, tc := range cases {
			t.Run(style+"/"+tc.name, func(t *testing.T) {
				e := sources.Entry{ID: "e", URL: s.URL() + u, Params: tc.params}
				if !strings.HasPrefix(style, "s3") {
					e.Checksums = s.URL() + strings.TrimSuffix(u, "/") + "/_MD5SUM.txt"
				}
				objs, err := New().Objects(context.Background(), s.Client(), e)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.want
				if !strings.HasPrefix(style, "s3") && tc.params["include"] == "" && !strings.Contains(tc.params["exclude"], "_*") {
					want = append(slices.Clone(want), "_MD5SUM.txt")
					slices.Sort(want)
				}
				if got := names(objs); !slices.Equal(got, want) {
					t.Fatalf("names %q, want %q", got, want)
				}
				for _, o := range objs {
					checkObject(t, s, style, o)
				}
			})
		}
	}
}

// checkObject downloads o and checks it against the tree and what the
// listing promised.
func checkObject(t *testing.T, s *emulator.Server, style string, o sources.Object) {
	t.Helper()
	resp, err := s.Client().Get(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: GET %s: %d", o.Name, o.URL, resp.StatusCode)
	}
	if o.Name == "_MD5SUM.txt" {
		return
	}
	if want := tree[o.Name]; string(body) != string(want) {
		t.Fatalf("%s: served content is not the tree's", o.Name)
	}
	sum := md5.Sum(body)
	if strings.HasPrefix(style, "s3") {
		if o.Size != int64(len(body)) || o.ETag != `"`+hex.EncodeToString(sum[:])+`"` || !o.LastModified.Equal(mt) {
			t.Errorf("%s: S3 metadata size %d etag %s lm %v", o.Name, o.Size, o.ETag, o.LastModified)
		}
		return
	}
	if o.Checksum == nil || o.Checksum.Algo != "md5" || o.Checksum.Value != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: checksum %+v, want md5 %x", o.Name, o.Checksum, sum)
	}
	// Exact sizes are promised only when the listing prints bytes: always
	// for nginx, below 973 bytes for Apache ("2.0K" is not a size).
	wantSize := int64(len(body))
	if style != "nginx" && len(body) >= 973 {
		wantSize = -1
	}
	if o.Size != wantSize {
		t.Errorf("%s (%s): size %d, want %d", o.Name, style, o.Size, wantSize)
	}
	if !o.LastModified.IsZero() {
		t.Errorf("%s: HTML listings must not give a LastModified", o.Name)
	}
}

// TestFixtures parses real-format listings, including links that must not
// be followed.
func TestFixtures(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	mount := func(dir, fixture string) {
		b, err := os.ReadFile("../../internal/emulator/testdata/files/" + fixture)
		if err != nil {
			t.Fatal(err)
		}
		s.HandleFunc("GET "+dir+"{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(b)
		})
	}
	mount("/pub/data/cmb/ersst/v5/netcdf/", "apache_table.html")
	mount("/data/spectra/", "apache_pre.html")
	mount("/Gaia/gdr3/gaia_source/", "nginx.html")
	mount("/data/spectra/plates/", "nginx.html") // a subdirectory for recursion
	tests := []struct {
		url       string
		params    map[string]string
		want      []string
		wantSizes map[string]int64
	}{
		{"/pub/data/cmb/ersst/v5/netcdf/", nil,
			[]string{"README.txt", "ersst.v5.185401.nc", "ersst.v5.185402.nc"},
			map[string]int64{"README.txt": 812, "ersst.v5.185401.nc": -1}},
		{"/data/spectra/", nil,
			[]string{"notes v2.txt", "spec-0266-51602-0001.fits.gz", "spec-0266-51602-0002.fits.gz"},
			map[string]int64{"notes v2.txt": 120, "spec-0266-51602-0001.fits.gz": -1}},
		{"/data/spectra/", map[string]string{"recursive": "true", "include": "*.gz"},
			[]string{"plates/GaiaSource_000000-003111.csv.gz", "plates/GaiaSource_003112-005263.csv.gz", "spec-0266-51602-0001.fits.gz", "spec-0266-51602-0002.fits.gz"}, nil},
		{"/Gaia/gdr3/gaia_source/", nil,
			[]string{"GaiaSource_000000-003111.csv.gz", "GaiaSource_003112-005263.csv.gz", "_MD5SUM.txt"},
			map[string]int64{"GaiaSource_000000-003111.csv.gz": 26946178, "_MD5SUM.txt": 243}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			objs, err := New().Objects(context.Background(), s.Client(), sources.Entry{ID: "f", URL: s.URL() + tc.url, Params: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(objs); !slices.Equal(got, tc.want) {
				t.Fatalf("names %q, want %q", got, tc.want)
			}
			for _, o := range objs {
				if !strings.HasPrefix(o.URL, s.URL()+tc.url) {
					t.Errorf("%s escapes the base: %s", o.Name, o.URL)
				}
				if want, ok := tc.wantSizes[o.Name]; ok && o.Size != want {
					t.Errorf("%s: size %d, want %d", o.Name, o.Size, want)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/d/a", []byte("a"), mt)
	s.Fault("/busy/**", emulator.Fault{Kind: emulator.Unavailable})
	tests := []struct {
		name   string
		url    string
		params map[string]string
		reason string
		msg    string
	}{
		{"missing dir", "/nope/", nil, sources.ReasonHTTP404, "/nope/"},
		{"busy", "/busy/", nil, sources.ReasonHTTP5xx, "503"},
		{"bad recursive", "/d/", map[string]string{"recursive": "yes please"}, "", "reg.yaml:3: entry e: params recursive"},
		{"depth without recursive", "/d/", map[string]string{"max_depth": "2"}, "", "needs recursive"},
		{"bad glob", "/d/", map[string]string{"include": "[a"}, "", "bad glob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Objects(context.Background(), s.Client(), sources.Entry{ID: "e", File: "reg.yaml", Line: 3, URL: s.URL() + tc.url, Params: tc.params})
			if err == nil || !strings.Contains(err.Error(), tc.msg) || sources.ReasonOf(err) != tc.reason {
				t.Fatalf("err %v (reason %q), want %q with reason %q", err, sources.ReasonOf(err), tc.msg, tc.reason)
			}
		})
	}
}

// TestS3TruncatedWithoutMarker guards against an endless loop on a broken
// server that says IsTruncated but gives nothing to continue from.
func TestS3TruncatedWithoutMarker(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.HandleFunc("GET /broken/{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>broken</Name><IsTruncated>true</IsTruncated></ListBucketResult>`)
	})
	_, err := New().Objects(context.Background(), s.Client(), sources.Entry{ID: "e", URL: s.URL() + "/broken/?list-type=2"})
	var fe *sources.FetchError
	if !errors.As(err, &fe) || fe.Reason != sources.ReasonBadResponse {
		t.Fatalf("err %v, want bad_response", err)
	}
	if n := s.Requests("/broken/"); n > 3 {
		t.Fatalf("%d requests to a broken listing", n)
	}
}

// Links gives a listing's children, subdirectories with their slash, in
// every HTML style the kind reads.
func TestLinks(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	for _, style := range []emulator.ListingStyle{emulator.ApacheFancy, emulator.ApacheTable, emulator.Nginx} {
		root := fmt.Sprintf("/l%d/", style)
		s.SetListing(root, style)
		s.AddFile(root+"a.nc", []byte("12345"), mt)
		s.AddFile(root+"sub/c.nc", []byte("c"), mt)
		resp, err := s.Client().Get(s.URL() + root)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		dir, _ := url.Parse(s.URL() + root)
		got := map[string]Link{}
		for _, l := range Links(dir, body) {
			got[l.Name] = l
		}
		if len(got) != 2 || got["a.nc"].URL != s.URL()+root+"a.nc" || got["a.nc"].Size != 5 || got["sub/"].URL != s.URL()+root+"sub/" {
			t.Errorf("style %d: links %+v", style, got)
		}
	}
}
