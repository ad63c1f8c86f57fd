package emulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Server is a loopback HTTP server emulating public data services: a file
// tree with listings and checksum files, faults, a request log, and the API
// emulators mounted on it. Its methods are safe for concurrent use, also
// while requests are served.
type Server struct {
	ts  *httptest.Server
	mux *http.ServeMux

	mu       sync.Mutex
	log      []*Request
	faults   []*faultRule
	tree     tree
	inflight int
	maxInfl  int
	noLog    bool
}

// KeepNoLog stops the request log, for benchmarks of millions of
// requests whose log would outgrow the objects served; counts of requests
// in flight are still kept.
func (s *Server) KeepNoLog() {
	s.mu.Lock()
	s.noLog = true
	s.log = nil
	s.mu.Unlock()
}

// Request is one request as the emulator saw it, before any fault. The
// log hands out copies, which callers may keep.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	At     time.Time
	// Status is the answer's status code once its header is written (a
	// fault's status included); 0 while there is none yet, or when the
	// client went away before an answer (a Hold it gave up on).
	Status int
}

// NewServer starts a Server on 127.0.0.1. Close it when done.
func NewServer() *Server {
	s := &Server{mux: http.NewServeMux()}
	s.tree.init()
	// The file tree is the fallback; handlers mounted with Handle use more
	// specific patterns and win over it.
	s.mux.Handle("/", http.HandlerFunc(s.serveTree))
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL, e.g. http://127.0.0.1:41234, without a trailing slash.
func (s *Server) URL() string { return s.ts.URL }

// Host is the URL's host:port, as a registry's host policy names it.
func (s *Server) Host() string { return strings.TrimPrefix(s.ts.URL, "http://") }

// Client is a new *http.Client for this server (plain transport, no
// retries). Each call returns its own copy, so tests may change its
// Timeout or CheckRedirect freely; all copies share one transport.
func (s *Server) Client() *http.Client {
	c := *s.ts.Client()
	return &c
}

// Close shuts the server down and blocks until all requests are done.
func (s *Server) Close() { s.ts.Close() }

// Handle mounts h on pattern (net/http.ServeMux syntax, e.g. "POST /api/v0/invoke"
// or "/tap/"). Patterns must not be "/" itself, which the file tree owns.
// The request log and faults apply to mounted handlers as well.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, f)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := &Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		At:     time.Now(),
	}
	s.mu.Lock()
	if !s.noLog {
		s.log = append(s.log, req)
	}
	s.inflight++
	s.maxInfl = max(s.maxInfl, s.inflight)
	f := s.takeFault(r)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	sw := &statusWriter{ResponseWriter: w, s: s, req: req}
	if f != nil {
		s.applyFault(sw, r, *f)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// statusWriter records the answer's status in the request log.
type statusWriter struct {
	http.ResponseWriter
	s     *Server
	req   *Request
	wrote bool
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.s.mu.Lock()
		w.req.Status = code
		w.s.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Inflight is how many requests are being answered now.
func (s *Server) Inflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

// MaxInflight is the most requests answered at once so far, as a host's
// concurrency limit would be seen by the publisher.
func (s *Server) MaxInflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInfl
}

// Requests counts the requests of any method for exactly this path.
func (s *Server) Requests(path string) int { return s.RequestsMethod("", path) }

// RequestsMethod counts requests for exactly this path with this method
// ("" for any method).
func (s *Server) RequestsMethod(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Path == path && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

// TotalRequests counts every request served so far.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// RequestTimes gives the arrival times of requests whose path starts with
// prefix, in arrival order, so tests can measure the rate the server saw.
func (s *Server) RequestTimes(prefix string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []time.Time
	for _, r := range s.log {
		if strings.HasPrefix(r.Path, prefix) {
			ts = append(ts, r.At)
		}
	}
	return ts
}

// RequestLog is a copy of every request whose path starts with prefix.
func (s *Server) RequestLog(prefix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.log {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, *r)
		}
	}
	return out
}

// CountRequests counts the logged requests for which keep holds. keep runs
// with the server's lock held, so it must not call the Server.
func (s *Server) CountRequests(keep func(Request) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if keep(*r) {
			n++
		}
	}
	return n
}

// ResetRequests forgets the request log (not the files or faults).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Transport answers requests for this server in process, without a
// socket: the handler writes into a recorder and the whole answer is
// returned at once. For tests of engine logic over very many small
// objects, where loopback TCP would cost more than the code under test;
// faults that cut connections need the real server. Safe for concurrent
// use.
func (s *Server) Transport() http.RoundTripper { return inProcess{s} }

type inProcess struct{ s *Server }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	t.s.serve(rec, r)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
