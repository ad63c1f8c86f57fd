package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	cmdline := binary(t) + " backfill --source big --workers 2 --registry " + reg + " --bucket file://" + filepath.Join(dir, "mirror") + "; sleep 60"
	if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "200", "-y", "10", cmdline).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	defer exec.Command(tmux, "kill-session", "-t", session).Run()

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
