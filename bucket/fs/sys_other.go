//go:build !unix

package fs

import (
	"errors"
	"os"
)

// lockFile is not available without flock(2): the filesystem backend's
// writes need it to keep conditional commits atomic.
func lockFile(*os.File) error {
	return errors.New("the filesystem bucket needs flock(2), which this system lacks")
}

// fileID is 0 where the system gives no inode: sidecars are then matched
// by size and modification time.
func fileID(os.FileInfo) uint64 { return 0 }
