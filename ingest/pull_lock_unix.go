//go:build unix

package ingest

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock(2) on f without waiting: ErrDirBusy
// when another process holds it. The kernel drops it when the process
// ends, however it ends, so a killed pull never leaves the directory locked.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrDirBusy
		case err != syscall.EINTR:
			return err
		}
	}
}
