package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/astroingest/astroingest/sources"
)

// Hosts that fail as hosts. A publisher that does not resolve, or refuses
// connections after the retries, fails every entry on it the same way;
// trying each in turn cost minutes per host (12 entries took 46 s), hours
// over the registry. Once one entry fails so, the host's entries not yet
// started fail at once, and the log gets one line per host.

// isNetworkError reports whether err is the network failing (a name that
// does not resolve, a connection refused, reset or unreachable), not a
// publisher answering.
func isNetworkError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsTimeout
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// hostOfError is the host of the request an error is about, "" when it
// names none.
func hostOfError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Hostname()
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Name
	}
	return ""
}

// downHosts are the hosts found unreachable this run. Safe for
// concurrent use.
type downHosts struct {
	mu sync.Mutex
	m  map[string]*downHost
}

type downHost struct {
	cause   string
	entries []string
}

// note marks err's host down when err is a network failure.
func (d *downHosts) note(e sources.Entry, err error) {
	if !isNetworkError(err) {
		return
	}
	host := hostOfError(err)
	if host == "" {
		host = entryHost(e)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]*downHost{}
	}
	if d.m[host] == nil {
		d.m[host] = &downHost{cause: err.Error()}
	}
	d.m[host].entries = append(d.m[host].entries, e.ID)
}

// check returns the error that fails e at once when its host is down.
func (d *downHosts) check(e sources.Entry) error {
	host := entryHost(e)
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.m[host]
	if h == nil {
		return nil
	}
	h.entries = append(h.entries, e.ID)
	return &EntryError{Reason: sources.ReasonNetwork, Detail: fmt.Sprintf("host %s is unreachable this run (not tried again): %s", host, h.cause)}
}

// report logs one line per host found down.
func (d *downHosts) report(log *slog.Logger) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, host := range slices.Sorted(maps.Keys(d.m)) {
		h := d.m[host]
		shown := h.entries[:min(len(h.entries), 5)]
		log.Warn("entries failed: their host is unreachable", "host", host, "entries", len(h.entries),
			"first", strings.Join(shown, ","), "cause", h.cause, "reason", sources.ReasonNetwork)
	}
}

func entryHost(e sources.Entry) string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
