//go:build linux

package ingest

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openUnnamed opens a new regular file in dir that has no name yet
// (O_TMPFILE): see localDir.createTemp for why pull writes that way.
// name is only what errors about the file call it.
func openUnnamed(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "open unnamed", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// linkUnnamed gives f, opened by openUnnamed, the name base in dir. An
// existing base is an error that matches os.ErrExist: linkat never
// replaces. It goes through /proc/self/fd, as linkat(2) documents for
// O_TMPFILE files (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
func linkUnnamed(f, dir *os.File, base string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), int(dir.Fd()), base, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: base, Err: err}
	}
	return nil
}
