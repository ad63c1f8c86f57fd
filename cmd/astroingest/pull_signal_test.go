package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/proctest"
)

// inFlight reports whether process pid is writing a file of pull under
// dir: a temporary file by name, or, where pull stages files unnamed
// (O_TMPFILE, which has no name to look for), a descriptor of pid's open
// on a nameless file there, which /proc shows as "DIR/#INODE (deleted)".
func inFlight(pid int, dir string) bool {
	found := false
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		found = found || err == nil && strings.Contains(d.Name(), ".astroingest-partial-")
		return nil
	})
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		found = found || err == nil && strings.HasPrefix(l, dir+"/") && strings.HasSuffix(l, " (deleted)")
	}
	return found
}

// A pull cancelled mid-transfer exits 3 and leaves only complete files;
// the rerun then finishes the job.
func TestPullInterrupted(t *testing.T) {
	w := newPullWorld(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr proctest.Buffer
	go func() {
		// 10 MiB at 2 MiB/s: five seconds to interrupt it in.
		done <- dispatch(ctx, []string{"pull", "--bucket", w.url, "--to", dir, "--part-size", "5MiB", "--bwlimit", "2MiB"}, &proctest.Buffer{}, &stderr)
	}()
	proctest.WaitFor(t, 10*time.Second, "a transfer in flight", func() bool { return inFlight(os.Getpid(), dir) })
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
			t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pull did not stop on cancel")
	}
	assertCompleteOnly(t, w, dir)
	code, sum, errOut := w.pull(t, context.Background(), dir)
	if code != exitOK || sum.Fetched+sum.Present != 3 {
		t.Fatalf("rerun: exit %d, %+v\n%s", code, sum, errOut)
	}
}

// assertCompleteOnly fails on a temporary file, or on a file that is not
// its object's whole bytes (pulledFiles checks them), and wants big.dat,
// the transfer that was cut, absent.
func assertCompleteOnly(t *testing.T, w *pullWorld, dir string) {
	t.Helper()
	assertNoPartials(t, dir)
	for _, k := range w.pulledFiles(t, dir) {
		if k == "astronomy/test/big.dat" {
			t.Errorf("%s delivered, though its transfer was interrupted", k)
		}
	}
}

// The built binary, sent SIGTERM mid-transfer, exits 3 and leaves only
// complete files, as a pod being evicted does. Killed with SIGKILL it
// cannot clean up, and on Linux need not: a file has no name until it is
// complete (O_TMPFILE), so nothing is left either. Either way the rerun
// finishes the job.
func TestPullSignals(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "astroingest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		exit int // -1: killed
	}{
		{syscall.SIGTERM, exitInterrupted},
		{syscall.SIGKILL, -1},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			if tc.sig == syscall.SIGKILL && runtime.GOOS != "linux" {
				t.Skip("named temporary files outlive a SIGKILL; the next pull removes them (TestPullStaleAndBusy)")
			}
			w := newPullWorld(t)
			dir := t.TempDir()
			var stderr proctest.Buffer
			cmd := exec.Command(bin, "pull", "--bucket", w.url, "--to", dir, "--part-size", "5MiB", "--bwlimit", "2MiB")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			proctest.WaitFor(t, 10*time.Second, "a transfer in flight", func() bool { return inFlight(cmd.Process.Pid, dir) })
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.exit, stderr.String())
			}
			assertCompleteOnly(t, w, dir)
			code, sum, errOut := w.pull(t, context.Background(), dir)
			if code != exitOK || sum.Fetched+sum.Present != 3 || sum.StaleRemoved != 0 {
				t.Fatalf("rerun: exit %d, %+v\n%s", code, sum, errOut)
			}
		})
	}
}
