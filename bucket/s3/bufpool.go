package s3

import (
	"sync"
)

// bufferPool recycles part buffers of the configured size across uploads.
// It keeps at most maxIdle free buffers (one upload's worth), so memory held
// between uploads stays bounded; buffers of other sizes (larger parts chosen
// for a big SizeHint) are rare and left to the garbage collector. The
// counters let tests check the Concurrency+1 bound and the reuse.
type bufferPool struct {
	size    int
	maxIdle int

	mu     sync.Mutex
	free   [][]byte
	live   int // handed out, not yet returned
	peak   int
	allocs int
}

func newBufferPool(size, maxIdle int) *bufferPool {
	return &bufferPool{size: size, maxIdle: maxIdle}
}

func (bp *bufferPool) get(size int) []byte {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	if size == bp.size && len(bp.free) > 0 {
		b := bp.free[len(bp.free)-1]
		bp.free = bp.free[:len(bp.free)-1]
		return b
	}
	bp.allocs++
	return make([]byte, size)
}

// getFree returns a free buffer of the pool's size, or nil when none is
// free: the caller then reads into a smaller buffer of its own.
func (bp *bufferPool) getFree(size int) []byte {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if size != bp.size || len(bp.free) == 0 {
		return nil
	}
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	b := bp.free[len(bp.free)-1]
	bp.free = bp.free[:len(bp.free)-1]
	return b
}

// adopt counts a part buffer the caller allocated itself (a first read that
// grew to the part size) as handed out; it is returned with put.
func (bp *bufferPool) adopt() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	bp.allocs++
}

func (bp *bufferPool) put(b []byte) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live--
	if cap(b) == bp.size && len(bp.free) < bp.maxIdle {
		bp.free = append(bp.free, b[:bp.size])
	}
}
