package ingest

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/astroingest/astroingest/internal/units"
)

// progress counts a run for the display, in entries and, inside them,
// in objects and bytes, so that an hour-long single entry still shows
// how far it is. Counters are atomics because every transfer goroutine
// updates them.
type progress struct {
	now    func() time.Time
	began  time.Time
	total  atomic.Int64 // entries due
	done   atomic.Int64 // entries over
	failed atomic.Int64 // entries failed

	objListed  atomic.Int64 // objects listed so far
	objDone    atomic.Int64 // objects decided: uploaded, unchanged, failed or skipped
	byteListed atomic.Int64 // known sizes of the listed objects
	byteDone   atomic.Int64 // sizes of the objects done
	bytes      atomic.Int64 // bytes read from publishers
}

func newProgress(now func() time.Time) *progress {
	return &progress{now: now, began: now()}
}

// start shows progress until the returned stop is called: a redrawn single
// line on a terminal, otherwise a structured log line per interval.
func (p *progress) start(cfg ProgressConfig, log *slog.Logger) (stop func()) {
	w, tty, every := cfg.Out, cfg.TTY, cfg.Interval
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				if tty && w != nil {
					fmt.Fprintf(w, "\r\033[K%s\n", p.line())
				}
				return
			case <-t.C:
			}
			if tty && w != nil {
				fmt.Fprintf(w, "\r\033[K%s", p.line())
			} else {
				p.logLine(log)
			}
		}
	})
	return sync.OnceFunc(func() {
		close(quit)
		wg.Wait()
	})
}

func (p *progress) logLine(log *slog.Logger) {
	attrs := []any{"objects_done", p.objDone.Load(), "objects_listed", p.objListed.Load(),
		"bytes_done", p.byteDone.Load(), "bytes_listed", p.byteListed.Load(),
		"bytes_read", p.bytes.Load(), "bytes_per_second", int64(p.rate()),
		"entries_done", p.done.Load(), "entries_total", p.total.Load(), "failed", p.failed.Load()}
	if eta, ok := p.eta(); ok {
		attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
	}
	log.Info("progress", attrs...)
}

func (p *progress) rate() float64 {
	el := p.now().Sub(p.began).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(p.bytes.Load()) / el
}

// eta extrapolates what is left: the known bytes not yet done at the read
// rate so far, or, while no size is known, the objects left at the object
// rate so far.
func (p *progress) eta() (time.Duration, bool) {
	el := p.now().Sub(p.began)
	if left := p.byteListed.Load() - p.byteDone.Load(); left > 0 {
		if r := p.rate(); r > 0 {
			return time.Duration(float64(left) / r * float64(time.Second)), true
		}
		return 0, false
	}
	done, listed := p.objDone.Load(), p.objListed.Load()
	if done > 0 && listed > done {
		return time.Duration(float64(el) / float64(done) * float64(listed-done)), true
	}
	if listed > 0 && done >= listed && p.done.Load() >= p.total.Load() {
		return 0, true
	}
	return 0, false
}

// line renders "objects 1234/20000  1.2 GiB of 4 GiB  35 MiB/s  ETA 1m20s
// entries 0/1  failed 0".
func (p *progress) line() string {
	eta := "?"
	if d, ok := p.eta(); ok {
		eta = d.Round(time.Second).String()
	}
	return fmt.Sprintf("objects %d/%d  %s of %s  %s/s  ETA %s  entries %d/%d  failed %d",
		p.objDone.Load(), p.objListed.Load(), units.FormatBytes(p.byteDone.Load()), units.FormatBytes(p.byteListed.Load()),
		units.FormatBytes(int64(p.rate())), eta, p.done.Load(), p.total.Load(), p.failed.Load())
}
