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

	"github.com/astroingest/astroingest/internal/objkey"
)

// PullStateDir is pull's own folder under --to: the lock and the per-entry
// state journals. No key of the mirror starts with it (keys start with a
// domain or annotations/), and pull refuses one that does.
const PullStateDir = ".astroingest"

// partialMark is in the name of every temporary file pull writes: a file
// is written as .<name><partialMark><random> beside its final name, then
// renamed, so a reader of --to never sees half a file under a key's name.
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
		return nil, 0, fmt.Errorf("pull: lock: %w", err)
	}
	if err := tryLock(lock); err != nil {
		lock.Close()
		root.Close()
		return nil, 0, fmt.Errorf("pull: %s: %w", dir, err)
	}
	d := &localDir{path: dir, root: root, lock: lock}
	n, err := d.removeStale()
	if err != nil {
		d.Close()
		return nil, 0, err
	}
	return d, n, nil
}

// Close releases the lock.
func (d *localDir) Close() error {
	return errors.Join(d.lock.Close(), d.root.Close())
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
		return n, fmt.Errorf("pull: remove stale temporary files under %s: %w", d.path, err)
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
