package ingest

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/astroingest/astroingest/internal/units"
)

// progress counts a run for the display. Counters are atomics because
// every transfer goroutine updates them.
type progress struct {
	now    func() time.Time
	began  time.Time
	total  atomic.Int64
	done   atomic.Int64
	failed atomic.Int64
	bytes  atomic.Int64
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
				log.Info("progress", "entries_done", p.done.Load(), "entries_total", p.total.Load(),
					"failed", p.failed.Load(), "bytes", p.bytes.Load(), "bytes_per_second", int64(p.rate()))
			}
		}
	})
	return sync.OnceFunc(func() {
		close(quit)
		wg.Wait()
	})
}

func (p *progress) rate() float64 {
	el := p.now().Sub(p.began).Seconds()
	if el <= 0 {
		return 0
	}
	return float64(p.bytes.Load()) / el
}

// line renders "entries 12/40  1.2 GiB  35.0 MiB/s  ETA 1m20s  failed 1".
// The ETA extrapolates the entry rate so far, the only rate known before
// sizes are.
func (p *progress) line() string {
	done, total := p.done.Load(), p.total.Load()
	el := p.now().Sub(p.began)
	eta := "?"
	if done > 0 && total >= done {
		eta = (time.Duration(float64(el) / float64(done) * float64(total-done))).Round(time.Second).String()
	}
	return fmt.Sprintf("entries %d/%d  %s  %s/s  ETA %s  failed %d",
		done, total, units.FormatBytes(p.bytes.Load()), units.FormatBytes(int64(p.rate())), eta, p.failed.Load())
}
