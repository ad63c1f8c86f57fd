package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/astroingest/astroingest/internal/objkey"
)

// PullStateDir is pull's own folder under --to: the lock and the per-entry
// state journals. No key of the mirror starts with it (keys start with a
// domain or annotations/), and pull refuses one that does.
const PullStateDir = ".astroingest"

// partialMark is in the name of every temporary file pull writes: where a
// file cannot be written unnamed (pull_unnamed.go), it is written as
// .<name><partialMark><random> beside its final name, then renamed, so a
// reader of --to never sees half a file under a key's name.
const partialMark = ".astroingest-partial-"

// ErrDirBusy is Pull's error when another pull holds the lock of the same
// --to directory: two pulls into one directory would remove each other's
// temporary files.
var ErrDirBusy = errors.New("another pull is writing into this directory")

// localDir is the destination tree of a pull, opened as an os.Root so that
// no key, however it is spelled and whatever symlinks the tree holds, can
// make a write land outside it.
type localDir struct {
	path string
	root *os.Root
	lock *os.File
	// nsMu serialises the operations that change a directory (create,
	// rename, mkdir). The kernel serialises them per directory anyway;
	// left to contend, 32 transfers creating files in one directory spent
	// most of pull's CPU spinning on its inode lock (3.5x the CPU of the
	// whole transfer for 16 KiB objects, measured).
	nsMu sync.Mutex

	dirMu    sync.Mutex
	dirs     map[string]*os.Root // by slash path under the tree
	dirFiles map[*os.Root]*os.File
	// unnamed: files are staged unnamed (see pull_unnamed.go).
	unnamed bool
}

// maxDirHandles bounds the directories kept open: past it, operations
// walk from the root again, which costs a few syscalls more.
const maxDirHandles = 256

// in returns the directory of name, opened as an os.Root below the tree's
// and kept for the next file there, and name's base within it: every
// operation of a pull is then one syscall on a short name, not a walk
// from the root (an openat per level) each time. With mkdir, a missing
// directory is made.
func (d *localDir) in(name string, mkdir bool) (*os.Root, string, error) {
	dir, base := path.Split(name)
	if dir = strings.TrimSuffix(dir, "/"); dir == "" {
		return d.root, base, nil
	}
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	if r, ok := d.dirs[dir]; ok {
		return r, base, nil
	}
	r, err := d.root.OpenRoot(dir)
	if errors.Is(err, iofs.ErrNotExist) && mkdir {
		if err = d.root.MkdirAll(dir, 0o755); err == nil {
			r, err = d.root.OpenRoot(dir)
		}
	}
	if err != nil {
		return nil, "", err
	}
	if len(d.dirs) >= maxDirHandles {
		r.Close()
		return d.root, name, nil
	}
	d.dirs[dir] = r
	return r, base, nil
}

func (d *localDir) lstat(name string) (os.FileInfo, error) {
	r, base, err := d.in(name, false)
	if err != nil {
		return nil, err
	}
	return r.Lstat(base)
}

func (d *localDir) open(name string) (*os.File, error) {
	r, base, err := d.in(name, false)
	if err != nil {
		return nil, err
	}
	return r.Open(base)
}

// create makes a new file at name, exclusively, and its directory if need be.
func (d *localDir) create(name string) (*os.File, error) {
	r, base, err := d.in(name, true)
	if err != nil {
		return nil, err
	}
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	return r.OpenFile(base, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
}

// rename moves from to to, in the same directory.
func (d *localDir) rename(from, to string) error {
	r, fbase, err := d.in(from, false)
	if err != nil {
		return err
	}
	_, tbase, err := d.in(to, false)
	if err != nil {
		return err
	}
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	return r.Rename(fbase, tbase)
}

func (d *localDir) remove(name string) error {
	r, base, err := d.in(name, false)
	if err != nil {
		return err
	}
	return r.Remove(base)
}

// openLocalDir creates dir if needed, takes its lock (ErrDirBusy when
// another pull holds it) and removes the temporary files that an earlier
// pull, killed before it could clean up, left behind.
func openLocalDir(dir string) (*localDir, int, error) {
	// A directory that cannot be made or opened is the user's to fix.
	if err := os.MkdirAll(filepath.Join(dir, PullStateDir, "state"), 0o755); err != nil {
		return nil, 0, &UsageError{Err: err}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, 0, &UsageError{Err: err}
	}
	lock, err := os.OpenFile(filepath.Join(dir, PullStateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		root.Close()
		return nil, 0, &UsageError{Err: err} // a directory we may not write to
	}
	if err := tryLock(lock); err != nil {
		lock.Close()
		root.Close()
		return nil, 0, fmt.Errorf("%s: %w", dir, err)
	}
	d := &localDir{path: dir, root: root, lock: lock, dirs: map[string]*os.Root{}, dirFiles: map[*os.Root]*os.File{}}
	n, err := d.removeStale()
	if err != nil {
		d.Close()
		return nil, 0, err
	}
	d.unnamed = d.probeUnnamed()
	return d, n, nil
}

// Close releases the lock and the directories kept open.
func (d *localDir) Close() error {
	errs := []error{d.lock.Close()}
	for _, f := range d.dirFiles {
		errs = append(errs, f.Close())
	}
	errs = append(errs, d.root.Close())
	for _, r := range d.dirs {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// removeStale walks the tree once and removes our temporary files. Under
// the lock nobody else is writing them, so every one found is stale.
func (d *localDir) removeStale() (int, error) {
	n := 0
	err := iofs.WalkDir(d.root.FS(), ".", func(p string, e iofs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir() && p == PullStateDir:
			return iofs.SkipDir
		case e.Type().IsRegular() && isPartial(e.Name()):
			if err := d.root.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("remove stale temporary files under %s: %w", d.path, err)
	}
	return n, nil
}

func isPartial(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, partialMark)
}

// localName checks that key may be written under the tree and returns its
// path there (slash-separated, as os.Root takes it). Keys in the bucket are
// already checked when written; this is the reader's own guard, so that a
// damaged or hostile index cannot write outside --to or over pull's state.
func localName(key string) (string, error) {
	if err := objkey.Validate(key); err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(key, "/")
	switch {
	case !filepath.IsLocal(filepath.FromSlash(key)):
		return "", &objkey.Error{Key: key, Reason: "not a local path"}
	case first == PullStateDir:
		return "", &objkey.Error{Key: key, Reason: "inside pull's own " + PullStateDir + "/"}
	case isPartial(path.Base(key)):
		return "", &objkey.Error{Key: key, Reason: "named like a temporary file of pull"}
	}
	return key, nil
}

// tempName is a fresh temporary name beside name. The base is shortened so
// that the temporary name stays within NAME_MAX (255 bytes).
func tempName(name string) string {
	dir, base := path.Split(name)
	if len(base) > 200 {
		base = base[:200]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return dir + "." + base + partialMark + hex.EncodeToString(b[:])
}
