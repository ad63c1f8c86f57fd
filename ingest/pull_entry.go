package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	iofs "io/fs"
	"os"
	"sync"

	"github.com/astroingest/astroingest/ingest/annotations"
)

// puller is one Pull's state: the dispatcher (one goroutine, in catalog
// and key order) decides what each object needs and hands transfers to
// the two pools; the transfers report back through the locked summary.
type puller struct {
	cfg *PullConfig
	dir *localDir
	t   *pullTransfer
	// small and large bound the transfers in flight, as the upload side
	// does: small objects cost little memory and need not queue behind
	// large ones.
	small, large chan pullJob
	workers      sync.WaitGroup // the pools' goroutines
	commits      chan commitJob // small objects verified, for the committers
	committers   sync.WaitGroup
	wg           sync.WaitGroup // every entry's closing

	planned    int64 // bytes of the objects taken so far, against MaxBytes
	overBudget bool

	mu   sync.Mutex // guards sum and errs once transfers run
	sum  PullSummary
	errs []error
}

// entry dispatches the objects of one entry. Its journal is loaded for the
// skip checks while its rows are read, dropped after, and closed once the
// entry's last transfer is over, so one entry's state is held at a time.
func (p *puller) entry(ctx context.Context, e annotations.CatalogEntry) {
	objs, fromRecords, err := EntryObjects(ctx, p.cfg.Bucket, e)
	if err != nil {
		p.fail(&ObjectError{Entry: e.ID, Err: err})
		return
	}
	if fromRecords {
		p.cfg.Logger.Warn("entry has no object index; verifying against its head's records instead (astroingest run writes the index)", "entry", e.ID, "head", e.Manifest)
		p.mu.Lock()
		p.sum.FromRecords = append(p.sum.FromRecords, e.ID)
		p.mu.Unlock()
	}
	st, err := openEntryState(p.dir, e.ID)
	if err != nil {
		p.fail(&ObjectError{Entry: e.ID, Err: err})
		return
	}
	var ewg sync.WaitGroup
	for o, err := range objs {
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			p.fail(&ObjectError{Entry: e.ID, Err: err})
			break
		}
		row, err := newPullRow(e.ID, o)
		if p.overBudget || p.cfg.MaxBytes > 0 && p.planned+row.size > p.cfg.MaxBytes {
			p.leaveOut(row)
			continue
		}
		p.planned += row.size
		p.taken(row)
		if err != nil {
			p.fail(&ObjectError{Entry: e.ID, Key: row.key, Err: err})
			continue
		}
		p.dispatch(ctx, st, &ewg, row)
	}
	st.forget()
	p.wg.Go(func() {
		ewg.Wait()
		if err := st.close(); err != nil {
			p.cfg.Logger.Warn("state journal not closed cleanly; the next pull re-hashes this entry's files", "entry", e.ID, "err", err)
		}
		p.t.prog.done.Add(1)
	})
}

// taken counts an object within the budget, into the selection.
func (p *puller) taken(row pullRow) {
	p.t.prog.objListed.Add(1)
	p.t.prog.byteListed.Add(row.size)
	p.mu.Lock()
	p.sum.Objects++
	p.sum.Bytes += row.size
	p.mu.Unlock()
}

// leaveOut counts an object past the byte budget.
func (p *puller) leaveOut(row pullRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.overBudget {
		p.overBudget = true
		p.sum.LeftOut = &PullLeftOut{FirstKey: row.key}
	}
	p.sum.LeftOut.Objects++
	p.sum.LeftOut.Bytes += row.size
}

// dispatch decides what one object needs: nothing when the journal
// vouches for the file under its name, else a transfer that hashes what is
// there or fetches it.
func (p *puller) dispatch(ctx context.Context, st *entryState, ewg *sync.WaitGroup, row pullRow) {
	name, err := localName(row.key)
	if err != nil {
		p.fail(&ObjectError{Entry: row.entry, Key: row.key, Err: err})
		return
	}
	fi, err := p.dir.lstat(name)
	switch {
	case err == nil && fi.Mode().IsRegular():
		if !p.cfg.Verify && st.vouches(row.key, row.size, row.sha256, fi) {
			p.landed(row, false, false)
			return
		}
	case err == nil:
		fi = nil // not a file: the rename replaces a link, and fails on a directory
	case errors.Is(err, iofs.ErrNotExist):
	default:
		p.fail(&ObjectError{Entry: row.entry, Key: row.key, Err: err})
		return
	}
	pool := p.small
	if row.size >= p.cfg.SmallBelow {
		pool = p.large
	}
	ewg.Add(1)
	select {
	case pool <- pullJob{st: st, ewg: ewg, name: name, row: row, have: fi}:
	case <-ctx.Done():
		ewg.Done()
	}
}

// pullJob is one object handed to a pool.
type pullJob struct {
	st   *entryState
	ewg  *sync.WaitGroup
	name string
	row  pullRow
	have os.FileInfo
}

// startPools starts the pools' goroutines, which live as long as the pull:
// a goroutine per object would grow a fresh stack through the SDK's deep
// call chains every time, which was a tenth of the CPU of small objects.
// The channels are unbuffered, so a busy pool holds the dispatcher back.
func (p *puller) startPools(ctx context.Context) {
	for pool, n := range map[chan pullJob]int{p.small: p.cfg.SmallWorkers, p.large: p.cfg.Workers} {
		for range n {
			p.workers.Go(func() {
				for j := range pool {
					p.deliver(ctx, j)
				}
			})
		}
	}
	// Committed files are complete and verified, so an interruption lets
	// the committers finish: each is one fsync and a rename.
	for range p.cfg.SmallWorkers {
		p.committers.Go(func() {
			for c := range p.commits {
				p.commit(c.s, c.j)
			}
		})
	}
}

// stopPools ends the pools once the dispatcher is done, then the
// committers that the pools feed.
func (p *puller) stopPools() {
	close(p.small)
	close(p.large)
	p.workers.Wait()
	close(p.commits)
	p.committers.Wait()
}

// deliver makes j's file hold its object, verified, and records it; j is
// done when it returns, or, for a small object, once a committer has put
// it in place. A file already there of the right size is hashed first:
// reading the disk is cheaper than the bucket, and a copy made by an
// earlier pull whose journal was lost, or by another tool, is then kept.
func (p *puller) deliver(ctx context.Context, j pullJob) {
	if j.have != nil && j.have.Size() == j.row.size {
		sum, n, err := p.t.hashFile(j.name)
		if err == nil && n == j.row.size && sum == j.row.sha256 {
			p.record(j.st, j.row, j.have)
			p.landed(j.row, false, true)
			j.ewg.Done()
			return
		}
	}
	s, err := p.t.fetch(ctx, j.name, j.row)
	if err != nil {
		if ctx.Err() == nil {
			p.fail(&ObjectError{Entry: j.row.entry, Key: j.row.key, Err: err})
		}
		j.ewg.Done()
		return
	}
	if j.row.size < p.cfg.SmallBelow {
		// The fsync is the disk's latency, not the bucket's: the GET's
		// slot goes to the next object while a committer waits for it.
		p.commits <- commitJob{s, j}
		return
	}
	p.commit(s, j)
}

// commitJob is a verified small object waiting for its fsync and rename.
type commitJob struct {
	s *stagedFile
	j pullJob
}

func (p *puller) commit(s *stagedFile, j pullJob) {
	defer j.ewg.Done()
	fi, err := s.commit()
	if err != nil {
		p.fail(&ObjectError{Entry: j.row.entry, Key: j.row.key, Err: err})
		return
	}
	p.record(j.st, j.row, fi)
	p.landed(j.row, true, false)
}

// record appends the journal line of a file that just landed verified, as
// fi describes it. A failure costs only a re-hash next time, so it is a
// warning.
func (p *puller) record(st *entryState, row pullRow, fi os.FileInfo) {
	if err := st.record(row.key, hex.EncodeToString(row.sha256[:]), fi); err != nil {
		p.cfg.Logger.Warn("state journal not written; the next pull re-hashes this file", "key", row.key, "err", err)
	}
}

func (p *puller) landed(row pullRow, fetched, rehashed bool) {
	p.t.prog.objDone.Add(1)
	p.t.prog.byteDone.Add(row.size)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case fetched:
		p.sum.Fetched++
		p.sum.FetchedBytes += row.size
	case rehashed:
		p.sum.Present++
		p.sum.Rehashed++
	default:
		p.sum.Present++
	}
}

// fail records a failed object, or a failed entry listing (no key).
func (p *puller) fail(err *ObjectError) {
	p.t.prog.failed.Add(1)
	if err.Key != "" {
		p.t.prog.objDone.Add(1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sum.Failed++
	if len(p.errs) < maxListedFailures {
		p.errs = append(p.errs, err)
		p.sum.Failures = append(p.sum.Failures, PullFailure{Entry: err.Entry, Key: err.Key, Error: err.Err.Error()})
	}
}
