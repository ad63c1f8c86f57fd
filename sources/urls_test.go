package sources

import (
	"net/url"
	"testing"
)

func TestFetchableURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://data.example.org/a.fits": true,
		"http://127.0.0.1:8080/x":         true,
		"ftp://ftp.example.org/x":         false,
		"file:///etc/passwd":              false,
		"https:///no-host":                false,
		"http:opaque":                     false,
		"/relative/path":                  false,
		"mast:TESS/product/x.fits":        false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := FetchableURL(u); got != want {
			t.Errorf("FetchableURL(%q) = %v, want %v", raw, got, want)
		}
	}
	if FetchableURL(nil) {
		t.Error("FetchableURL(nil) = true")
	}
}
