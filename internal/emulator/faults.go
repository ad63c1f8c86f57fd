package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FaultKind is a misbehaviour of a real service that the engine must survive.
// Each kind answers as the real failure reaches a client over HTTP/1.1.
type FaultKind int

const (
	// TooManyRequests answers 429 with Retry-After.
	TooManyRequests FaultKind = iota + 1
	// Unavailable answers 503 with Retry-After.
	Unavailable
	// Reset sends the headers and After bytes of the body, then resets the
	// TCP connection (RST, not a clean close).
	Reset
	// Corrupt serves the real response with one body byte flipped at offset
	// After, while checksum files and ETags still describe the true bytes.
	Corrupt
	// Slow throttles the body to BytesPerSecond.
	Slow
	// Redirect answers 302 to To, a path on this server.
	Redirect
	// Status answers Code (any 4xx or 5xx: a 404 for a withdrawn file, a
	// 500 of a broken backend), with Retry-After only when RetryAfter is set.
	Status
	// Hold keeps the request waiting until Until is closed, then serves it
	// normally; a client that gives up first gets nothing. Tests use it to
	// catch a run in the middle of a download.
	Hold
)

// String names the kind, for test output.
func (k FaultKind) String() string {
	switch k {
	case TooManyRequests:
		return "429"
	case Unavailable:
		return "503"
	case Reset:
		return "reset"
	case Corrupt:
		return "corrupt"
	case Slow:
		return "slow"
	case Redirect:
		return "redirect"
	case Status:
		return "status"
	case Hold:
		return "hold"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault describes one injected misbehaviour. Server.Fault copies it; the
// Until channel is the only part shared with the caller.
type Fault struct {
	Kind FaultKind
	// Times is how many matching requests the fault hits; 0 or less means
	// every matching request.
	Times int
	// Method limits the fault to one method ("" for any).
	Method string
	// RetryAfter is sent in whole seconds (rounded up) with 429 and 503;
	// the zero value sends "Retry-After: 0" so tests stay fast. With Status
	// it is sent only when above zero.
	RetryAfter time.Duration
	// Code is the status Status answers with.
	Code int
	// Until is the channel Hold waits for.
	Until <-chan struct{}
	// After is the body offset for Reset (bytes sent before the reset) and
	// Corrupt (the byte that is flipped).
	After int64
	// BytesPerSecond is the body rate for Slow.
	BytesPerSecond int64
	// To is the Redirect target, a path (and optional query) on this server.
	To string
}

type faultRule struct {
	glob string
	re   *regexp.Regexp
	f    Fault
	left int // remaining hits; <0 for unlimited
	hits int
}

// Fault injects f into requests whose path matches glob. In the glob, "*"
// and "?" do not cross "/", and "**" matches anything. Rules are tried in the
// order they were added; a request gets at most one fault. Fault panics on a
// malformed rule, which is a bug in the calling test.
func (s *Server) Fault(glob string, f Fault) {
	switch f.Kind {
	case TooManyRequests, Unavailable, Reset, Corrupt:
	case Slow:
		if f.BytesPerSecond <= 0 {
			panic("emulator: Slow fault needs BytesPerSecond > 0")
		}
	case Status:
		if f.Code < 400 || f.Code > 599 {
			panic(fmt.Sprintf("emulator: Status fault needs a 4xx or 5xx Code, got %d", f.Code))
		}
	case Hold:
		if f.Until == nil {
			panic("emulator: Hold fault needs Until")
		}
	case Redirect:
		if !strings.HasPrefix(f.To, "/") {
			panic(fmt.Sprintf("emulator: Redirect fault needs To as a path starting with '/', got %q", f.To))
		}
	default:
		panic(fmt.Sprintf("emulator: unknown fault kind %d", int(f.Kind)))
	}
	left := f.Times
	if left <= 0 {
		left = -1
	}
	rule := &faultRule{glob: glob, re: globRegexp(glob), f: f, left: left}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, rule)
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultHits is how many requests the rules with this glob have hit so far.
func (s *Server) FaultHits(glob string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.faults {
		if r.glob == glob {
			n += r.hits
		}
	}
	return n
}

// takeFault picks and consumes the fault for r; s.mu must be held.
func (s *Server) takeFault(r *http.Request) *Fault {
	for _, rule := range s.faults {
		if rule.left == 0 || !rule.re.MatchString(r.URL.Path) {
			continue
		}
		if rule.f.Method != "" && rule.f.Method != r.Method {
			continue
		}
		if rule.left > 0 {
			rule.left--
		}
		rule.hits++
		f := rule.f
		return &f
	}
	return nil
}

func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) {
	switch f.Kind {
	case TooManyRequests, Unavailable, Status:
		code := map[FaultKind]int{TooManyRequests: http.StatusTooManyRequests, Unavailable: http.StatusServiceUnavailable, Status: f.Code}[f.Kind]
		if f.Kind != Status || f.RetryAfter > 0 {
			secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		http.Error(w, http.StatusText(code)+" (injected fault)", code)
	case Hold:
		select {
		case <-f.Until:
			s.mux.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	case Redirect:
		http.Redirect(w, r, f.To, http.StatusFound)
	case Reset:
		rw := &resetWriter{ResponseWriter: w, left: f.After}
		s.mux.ServeHTTP(rw, r)
	case Corrupt:
		s.mux.ServeHTTP(&corruptWriter{ResponseWriter: w, at: f.After}, r)
	case Slow:
		s.mux.ServeHTTP(&slowWriter{ResponseWriter: w, rate: f.BytesPerSecond, r: r, start: time.Now()}, r)
	}
}

// globRegexp turns a path glob into an anchored regexp.
func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
