package emulator

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The request log records each answer's status, as the client got it.
func TestRequestLogStatus(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/d/f", []byte("0123456789"), mtime)
	s.Fault("/d/f", Fault{Kind: Unavailable, Times: 1})
	get(t, s, "GET", "/d/f", nil)
	resp, _ := get(t, s, "GET", "/d/f", nil)
	get(t, s, "GET", "/d/f", map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	get(t, s, "GET", "/d/f", map[string]string{"Range": "bytes=4-"})
	get(t, s, "GET", "/d/missing", nil)
	var got []int
	for _, r := range s.RequestLog("/d/") {
		got = append(got, r.Status)
	}
	want := []int{503, 200, 304, 206, 404}
	if len(got) != len(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if n := s.CountRequests(func(r Request) bool { return r.Status == 304 }); n != 1 {
		t.Errorf("CountRequests(304) = %d, want 1", n)
	}
	if h := s.Host(); !strings.HasPrefix(h, "127.0.0.1:") || s.URL() != "http://"+h {
		t.Errorf("Host() = %q for URL %s", h, s.URL())
	}
}

// A Hold keeps its request in flight until released, then serves it; a
// client that gives up first leaves a request without status.
func TestFaultHoldAndInflight(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddFile("/h", []byte("held"), mtime)
	gate := make(chan struct{})
	s.Fault("/h", Fault{Kind: Hold, Until: gate, Times: 1})
	done := make(chan string, 1)
	go func() {
		resp, err := s.Client().Get(s.URL() + "/h")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	waitInflight(t, s, 1)
	if st := s.RequestLog("/h")[0].Status; st != 0 {
		t.Fatalf("held request has status %d before its answer", st)
	}
	select {
	case b := <-done:
		t.Fatalf("held request answered %q before the release", b)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	if b := <-done; b != "held" {
		t.Fatalf("released request: %q", b)
	}
	waitInflight(t, s, 0)
	if st := s.RequestLog("/h")[0].Status; st != 200 || s.MaxInflight() != 1 {
		t.Fatalf("status %d, max in flight %d", st, s.MaxInflight())
	}

	s.Fault("/h", Fault{Kind: Hold, Until: make(chan struct{}), Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/h", nil)
	go func() {
		if resp, err := s.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitInflight(t, s, 1)
	cancel()
	waitInflight(t, s, 0)
	if st := s.RequestLog("/h")[1].Status; st != 0 {
		t.Fatalf("abandoned hold logged status %d, want 0", st)
	}
}

func waitInflight(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Inflight() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want %d", s.Inflight(), n)
		}
	}
}
