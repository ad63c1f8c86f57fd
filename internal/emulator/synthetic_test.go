package emulator

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A synthetic directory lists n files with their sizes, as nginx does,
// and serves each with validators and ranges.
func TestSynthetic(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddSynthetic("/syn/", 1000, func(i int) int64 { return int64(i % 37) })
	resp, err := http.Get(s.URL() + "/syn/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(page), `<a href="f`); n != 1000 {
		t.Fatalf("listing has %d files", n)
	}
	if !strings.Contains(string(page), `<a href="f0000036.dat">f0000036.dat</a>`) || !strings.Contains(string(page), " 36\r\n") {
		t.Fatalf("listing line for f0000036.dat missing:\n%.400s", page)
	}
	get := func(name, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/syn/"+name, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	r1, b1 := get("f0000036.dat", "")
	_, b2 := get("f0000036.dat", "")
	if r1.StatusCode != 200 || len(b1) != 36 || !bytes.Equal(b1, b2) || r1.Header.Get("ETag") == "" || r1.Header.Get("Last-Modified") == "" {
		t.Fatalf("file: %d, %d bytes, etag %q", r1.StatusCode, len(b1), r1.Header.Get("ETag"))
	}
	if _, other := get("f0000035.dat", ""); bytes.Equal(other, b1[:35]) {
		t.Fatal("two files have the same bytes")
	}
	if r, part := get("f0000036.dat", "bytes=10-"); r.StatusCode != http.StatusPartialContent || !bytes.Equal(part, b1[10:]) {
		t.Fatalf("range: %d", r.StatusCode)
	}
	if r, _ := get("f0001000.dat", ""); r.StatusCode != 404 {
		t.Fatalf("a file past n: %d", r.StatusCode)
	}
}
