package ingest

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// A login page served as the data is refused before anything is stored,
// and the failure quotes what the page said; a family that declares its
// types is held to them.
func TestContentTypeChecked(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		ctype  string
		body   string
		expect []string
		ok     bool
	}{
		{"login page for a .nc", "climate/x/data.nc", "text/html; charset=utf-8", "<html>\n<body><h1>Please log in</h1> to continue</body>", nil, false},
		{"xhtml for a .fits", "astronomy/x/a.fits", "application/xhtml+xml", "<p>Session expired</p>", nil, false},
		{"an HTML file that is one", "climate/x/readme.html", "text/html", "<html>docs</html>", nil, true},
		{"a type the family does not expect", "climate/x/data.nc", "application/octet-stream", "CDF\x01", []string{"application/x-netcdf"}, false},
		{"a type the family expects", "climate/x/data.nc", "application/x-netcdf", "CDF\x01", []string{"application/x-netcdf"}, true},
		{"plain text, no expectation", "biology/x/sums.txt", "text/plain", "abc  f", nil, true},
		{"no type at all", "climate/x/data.nc", "", "CDF\x01", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{tt.ctype}
				w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			b := mem.New()
			x, retries := newTestTransfer(b)
			_, st, err := x.run(context.Background(), objectJob{domain: "climate", obj: sources.Object{URL: ts.URL + "/f", Size: -1},
				key: tt.key, charge: &charge{b: newBudget(0, nil)}, types: tt.expect})
			_, serr := b.Stat(context.Background(), tt.key)
			switch {
			case tt.ok && (st != objUploaded || serr != nil):
				t.Fatalf("status %v, err %v, stat %v; want uploaded", st, err, serr)
			case !tt.ok && (st != objFailed || classify(err) != sources.ReasonUnexpectedContentType || !errors.Is(serr, fs.ErrNotExist)):
				t.Fatalf("status %v, err %v (%s), stat %v; want unexpected_content_type and nothing stored", st, err, classify(err), serr)
			case !tt.ok && len(*retries) != 0:
				t.Errorf("retried %v: a refused type is not a transient fault", *retries)
			}
			if tt.name == "login page for a .nc" && !strings.Contains(err.Error(), `"Please log in to continue"`) {
				t.Errorf("error %q does not quote the page", err)
			}
		})
	}
}
