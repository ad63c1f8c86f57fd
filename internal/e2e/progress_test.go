package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The live line on a terminal counts objects done of objects listed, with
// bytes, rate and an ETA, also inside one big entry: seen in a real
// terminal (tmux) while the binary mirrors a 10,000-object entry.
func TestProgressLineInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed; .ci/run installs it")
		}
		t.Skip("tmux is not installed")
	}
	srv := newSource(t)
	const n = 10_000
	srv.KeepNoLog()
	srv.AddSynthetic("/big/", n, func(i int) int64 { return 1000 })
	dir := t.TempDir()
	reg := filepath.Join(dir, "registry.yaml")
	yaml := registryYAML([]string{hostYAML(srv, 4, 3000, "")},
		fam{ID: "big", Domain: "astronomy", Kind: "index", Key: "big", URL: srv.URL() + "/big/"})
	if err := os.WriteFile(reg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	session := "astroingest-progress-" + strconv.Itoa(os.Getpid())
	// The run goes in the background so that its pid is known: killing
	// the session only hangs it up, and t.TempDir's cleanup must not race
	// a run still writing into the mirror.
	pidFile := filepath.Join(dir, "pid")
	cmdline := binary(t) + " backfill --source big --workers 2 --registry " + reg + " --bucket file://" + filepath.Join(dir, "mirror") + " & echo $! > " + pidFile + "; wait; sleep 60"
	if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "10", cmdline).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	defer stopSession(t, tmux, session, pidFile)

	line := regexp.MustCompile(`objects (\d+)/(\d+)  (\S+ \S+) of (\S+ \S+)  \S+ \S+/s  ETA (\S+)  entries 0/1  failed 0`)
	deadline := time.Now().Add(60 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		out, err := exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
		if err != nil {
			t.Fatalf("capture-pane: %v", err)
		}
		screen = string(out)
		if m := line.FindStringSubmatch(screen); m != nil {
			done, _ := strconv.Atoi(m[1])
			listed, _ := strconv.Atoi(m[2])
			if done > 0 && done < n && listed == n && m[4] == "9.5 MiB" && m[5] != "?" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no live line counting objects inside the entry; last screen:\n%s", strings.TrimSpace(screen))
}

// stopSession ends the tmux session and waits for the run in it to exit.
func stopSession(t *testing.T, tmux, session, pidFile string) {
	exec.Command(tmux, "kill-session", "-t", session).Run()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// A zombie has stopped writing too; PID 1 in a container may never reap it.
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if syscall.Kill(pid, 0) != nil || err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
	}
	t.Errorf("the run (pid %d) did not exit", pid)
}
