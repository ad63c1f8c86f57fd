package emulator

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestFaultStatusAndTimes(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantCode   int
		wantRetry  string
		faultyHits int
	}{
		{"429 twice", Fault{Kind: TooManyRequests, Times: 2, RetryAfter: 1500 * time.Millisecond}, 429, "2", 2},
		{"503 once", Fault{Kind: Unavailable, Times: 1}, 503, "0", 1},
		{"503 only for HEAD", Fault{Kind: Unavailable, Times: 1, Method: "HEAD"}, 200, "", 0},
		{"404 without Retry-After", Fault{Kind: Status, Code: 404, Times: 1}, 404, "", 1},
		{"500 with Retry-After", Fault{Kind: Status, Code: 500, Times: 2, RetryAfter: time.Second}, 500, "1", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddFile("/gaia/a.csv", []byte("data"), mtime)
			s.AddFile("/other/a.csv", []byte("data"), mtime)
			s.Fault("/gaia/*", tc.fault)
			for i := 0; i < tc.faultyHits; i++ {
				resp, _ := get(t, s, "GET", "/gaia/a.csv", nil)
				if resp.StatusCode != tc.wantCode || resp.Header.Get("Retry-After") != tc.wantRetry {
					t.Fatalf("request %d: %d Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}
			if resp, _ := get(t, s, "GET", "/other/a.csv", nil); resp.StatusCode != 200 {
				t.Fatalf("path outside the glob: %d", resp.StatusCode)
			}
			resp, body := get(t, s, "GET", "/gaia/a.csv", nil)
			if resp.StatusCode != 200 || string(body) != "data" {
				t.Fatalf("after the fault is spent: %d %q", resp.StatusCode, body)
			}
			if got := s.FaultHits("/gaia/*"); got != tc.faultyHits {
				t.Fatalf("FaultHits = %d, want %d", got, tc.faultyHits)
			}
			if got := s.Requests("/gaia/a.csv"); got != tc.faultyHits+1 {
				t.Fatalf("Requests = %d, want %d (faulted requests are counted)", got, tc.faultyHits+1)
			}
		})
	}
}

func TestFaultGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"/gaia/*", "/gaia/a.csv", true},
		{"/gaia/*", "/gaia/sub/a.csv", false},
		{"/gaia/**", "/gaia/sub/a.csv", true},
		{"/gaia/*.csv", "/gaia/a.csv.gz", false},
		{"/gaia/?.csv", "/gaia/a.csv", true},
		{"/a+b/*", "/a+b/x", true},
		{"/a+b/*", "/aab/x", false},
	}
	for _, tc := range tests {
		if got := globRegexp(tc.glob).MatchString(tc.path); got != tc.want {
			t.Errorf("glob %q on %q = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
	}
}

func TestFaultUnlimited(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/x", []byte("x"), mtime)
	s.Fault("/x", Fault{Kind: Unavailable})
	for i := 0; i < 5; i++ {
		if resp, _ := get(t, s, "GET", "/x", nil); resp.StatusCode != 503 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	s.ClearFaults()
	if resp, _ := get(t, s, "GET", "/x", nil); resp.StatusCode != 200 {
		t.Fatalf("after ClearFaults: %d", resp.StatusCode)
	}
}

func TestFaultReset(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddGenerated("/big", 1<<20, 3)
	s.Fault("/big", Fault{Kind: Reset, After: 1000, Times: 1})
	resp, err := s.Client().Get(s.URL() + "/big")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("read %d bytes without error; want a broken body", len(body))
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v; want connection reset or unexpected EOF", err)
	}
	if len(body) != 1000 || resp.ContentLength != 1<<20 {
		t.Fatalf("got %d bytes of a %d-byte response, want exactly 1000", len(body), resp.ContentLength)
	}
	// The fault was used up: the next request is whole and equals the
	// true content from offset 0, so a resumed download can be checked.
	_, full := get(t, s, "GET", "/big", nil)
	if len(full) != 1<<20 || !bytes.Equal(full[:1000], body) || md5hex(full) != s.MD5("/big") {
		t.Fatal("second request is not the true content")
	}
}

func TestFaultCorrupt(t *testing.T) {
	s := NewServer()
	defer s.Close()
	data := bytes.Repeat([]byte("abcdefgh"), 1000)
	s.AddFile("/gaia/f", data, mtime)
	s.AddChecksumFile("/gaia/_MD5SUM.txt", MD5Sum)
	s.Fault("/gaia/f", Fault{Kind: Corrupt, After: 4321, Times: 1})
	resp, bad := get(t, s, "GET", "/gaia/f", nil)
	if resp.StatusCode != 200 || len(bad) != len(data) {
		t.Fatalf("corrupt response: %d, %d bytes", resp.StatusCode, len(bad))
	}
	diff := 0
	for i := range data {
		if bad[i] != data[i] {
			diff++
			if i != 4321 {
				t.Errorf("byte %d differs, want only 4321", i)
			}
		}
	}
	if diff != 1 {
		t.Fatalf("%d bytes differ, want 1", diff)
	}
	_, sums := get(t, s, "GET", "/gaia/_MD5SUM.txt", nil)
	if !strings.HasPrefix(string(sums), md5hex(data)+"  f\n") || resp.Header.Get("ETag") != `"`+md5hex(data)+`"` {
		t.Fatalf("checksums must still give the true md5: %s, ETag %s", sums, resp.Header.Get("ETag"))
	}
	if _, good := get(t, s, "GET", "/gaia/f", nil); !bytes.Equal(good, data) {
		t.Fatal("second request still corrupt")
	}
}

func TestFaultSlow(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddGenerated("/slow", 20_000, 1)
	s.AddGenerated("/fast", 20_000, 1)
	s.Fault("/slow", Fault{Kind: Slow, BytesPerSecond: 50_000})
	start := time.Now()
	_, body := get(t, s, "GET", "/slow", nil)
	took := time.Since(start)
	if len(body) != 20_000 || md5hex(body) != s.MD5("/slow") {
		t.Fatalf("slow body wrong: %d bytes", len(body))
	}
	// 20 kB at 50 kB/s is 400 ms; allow for scheduling on a busy machine.
	if took < 350*time.Millisecond || took > 3*time.Second {
		t.Fatalf("slow body took %v, want about 400ms", took)
	}
	start = time.Now()
	get(t, s, "GET", "/fast", nil)
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("unfaulted path took %v", d)
	}
}

func TestFaultSlowStopsOnCancel(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddGenerated("/slow", 1<<20, 1)
	s.Fault("/slow", Fault{Kind: Slow, BytesPerSecond: 1000})
	c := s.Client()
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	resp, err := c.Get(s.URL() + "/slow")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("1 MiB at 1 kB/s finished within 200ms")
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("server handler kept sending after the client left (%v)", time.Since(start))
	}
}

func TestFaultRedirect(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/new/f", []byte("moved"), mtime)
	s.Fault("/old/f", Fault{Kind: Redirect, To: "/new/f"})
	resp, _ := get(t, s, "GET", "/old/f", nil)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/new/f" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	r2, err := s.Client().Get(s.URL() + "/old/f")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if string(b) != "moved" || s.Requests("/new/f") != 1 {
		t.Fatalf("following client got %q", b)
	}
}

func TestFaultMisuse(t *testing.T) {
	tests := []Fault{
		{Kind: Slow},
		{Kind: Redirect, To: "http://elsewhere/"},
		{Kind: Status, Code: 200},
		{Kind: Hold},
		{Kind: 99},
	}
	for _, f := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Fault(%+v) did not panic", f)
				}
			}()
			s := NewServer()
			defer s.Close()
			s.Fault("/x", f)
		}()
	}
}

func TestRequestLogAndHandle(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.HandleFunc("POST /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	s.AddFile("/d/f", []byte("f"), mtime)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Client().Post(s.URL()+"/api/v1/jobs", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Errorf("mounted handler: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	get(t, s, "GET", "/d/f", nil)
	get(t, s, "HEAD", "/d/f", nil)
	s.Fault("/api/**", Fault{Kind: Unavailable, Times: 1})
	resp, err := s.Client().Post(s.URL()+"/api/v1/jobs", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("fault on mounted handler: %d", resp.StatusCode)
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"POST jobs", s.RequestsMethod("POST", "/api/v1/jobs"), 11},
		{"any /d/f", s.Requests("/d/f"), 2},
		{"HEAD /d/f", s.RequestsMethod("HEAD", "/d/f"), 1},
		{"total", s.TotalRequests(), 13},
		{"times /api/", len(s.RequestTimes("/api/")), 11},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	ts := s.RequestTimes("")
	for i := 1; i < len(ts); i++ {
		if ts[i].Before(ts[i-1]) {
			t.Fatal("request times out of order")
		}
	}
	s.ResetRequests()
	if s.TotalRequests() != 0 {
		t.Fatal("ResetRequests kept the log")
	}
}
