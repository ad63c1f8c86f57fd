package ingest

import (
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/time/rate"
)

// budget enforces --max-bytes (whole run) and each family's budget_bytes.
// Objects of known size reserve their size before the download starts and
// are not started when it would not fit; objects of unknown size are charged
// as bytes arrive and stopped once a limit is crossed. Once a limit is hit it
// stays exhausted for the rest of the run, so what gets mirrored does not
// depend on which small object happened to still fit.
type budget struct {
	mu        sync.Mutex
	max       int64 // 0 = unlimited
	used      int64
	famMax    map[string]int64
	famUsed   map[string]int64
	exhausted bool
	famDone   map[string]bool
}

func newBudget(maxBytes int64, famMax map[string]int64) *budget {
	return &budget{max: maxBytes, famMax: famMax, famUsed: map[string]int64{}, famDone: map[string]bool{}}
}

// blocked reports whether no new download may start for family.
func (b *budget) blocked(fam string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exhausted || b.famDone[fam]
}

// reached reports whether any limit stopped a download.
func (b *budget) reached() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exhausted || len(b.famDone) > 0
}

// charge is one object's claim on the budget.
type charge struct {
	b       *budget
	fam     string
	charged int64
}

// start reserves size (when known, > 0) for a new download.
func (b *budget) start(fam string, size int64) (*charge, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exhausted || b.famDone[fam] {
		return nil, &budgetError{"byte budget already reached"}
	}
	c := &charge{b: b, fam: fam}
	if size > 0 {
		if err := b.fitLocked(fam, size); err != nil {
			return nil, err
		}
		c.charged = size
	}
	return c, nil
}

func (b *budget) fitLocked(fam string, n int64) error {
	if b.max > 0 && b.used+n > b.max {
		b.exhausted = true
		return &budgetError{fmt.Sprintf("the run's byte budget of %d reached (%d used)", b.max, b.used)}
	}
	if fm := b.famMax[fam]; fm > 0 && b.famUsed[fam]+n > fm {
		b.famDone[fam] = true
		return &budgetError{fmt.Sprintf("family %s budget_bytes %d reached (%d used)", fam, fm, b.famUsed[fam])}
	}
	b.used += n
	b.famUsed[fam] += n
	return nil
}

// seen charges bytes that went beyond the reservation.
func (c *charge) seen(total int64) error {
	if total <= c.charged {
		return nil
	}
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if err := c.b.fitLocked(c.fam, total-c.charged); err != nil {
		return err
	}
	c.charged = total
	return nil
}

// settle keeps exactly n bytes charged (the object's final size); 0 refunds
// everything, for an unchanged, failed or aborted object.
func (c *charge) settle(n int64) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	d := n - c.charged
	c.b.used += d
	c.b.famUsed[c.fam] += d
	c.charged = n
}

// meteredReader counts the bytes of one download, applies the run-wide
// --bwlimit and charges the budget.
type meteredReader struct {
	ctx    context.Context
	r      io.Reader
	lim    *rate.Limiter // nil = unlimited
	charge *charge
	n      int64
	onRead func(n int)
}

func (m *meteredReader) Read(p []byte) (int, error) {
	// The bucket's Put outlives a cancellation for a grace period (see
	// attempt), so the reader itself must stop feeding it.
	if m.ctx.Err() != nil {
		return 0, context.Cause(m.ctx)
	}
	if m.lim != nil && len(p) > m.lim.Burst() {
		p = p[:m.lim.Burst()]
	}
	n, err := m.r.Read(p)
	if n > 0 {
		m.n += int64(n)
		if m.onRead != nil {
			m.onRead(n)
		}
		if m.lim != nil {
			if werr := m.lim.WaitN(m.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
		if m.charge != nil {
			if berr := m.charge.seen(m.n); berr != nil {
				return n, berr
			}
		}
	}
	return n, err
}

// newBWLimiter makes the run-wide download limiter; bytesPerSec <= 0 is none.
func newBWLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	// A burst of ~1/8 s keeps the rate smooth while letting reads stay
	// reasonably large.
	burst := int(min(max(bytesPerSec/8, 4096), 1<<20))
	return rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}
