package ingest

import "context"

// transferSlots bounds the transfers in flight, run-wide, by what they
// cost. A large object (or one of unknown size) holds part buffers in the
// bucket backend while it streams, so Workers of them run at once; a
// small one of known size costs little more than a connection, so up to
// SmallWorkers of them run besides, still within each host's own
// concurrency. Safe for concurrent use.
type transferSlots struct {
	large      chan struct{}
	small      chan struct{}
	smallBelow int64
}

func newTransferSlots(workers, smallWorkers int, smallBelow int64) *transferSlots {
	return &transferSlots{large: make(chan struct{}, workers), small: make(chan struct{}, smallWorkers), smallBelow: smallBelow}
}

// acquire waits for a slot fit for an object of size (-1 when unknown);
// false when ctx ended first.
func (s *transferSlots) acquire(ctx context.Context, size int64) (release func(), ok bool) {
	sem := s.large
	if size >= 0 && size < s.smallBelow && cap(s.small) > 0 {
		sem = s.small
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	case <-ctx.Done():
		return nil, false
	}
}
