package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
)

// The exit-code contract of DESIGN.md, which these tests check from outside
// the process.
const (
	exitOK          = 0
	exitFailed      = 1 // one or more entries failed
	exitUsage       = 2 // invalid usage or configuration; nothing written
	exitInterrupted = 3 // SIGINT/SIGTERM
	exitBusy        = 4 // another live run holds the lease; nothing written
)

// binaryPackage is the command under test.
const binaryPackage = "github.com/astroingest/astroingest/cmd/astroingest"

// binDir holds the binary built once for every e2e test; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "astroingest-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binary builds the command once per test run, on first use, so that a run
// whose tests all skip (no versitygw, outside CI) does not pay for the build.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "astroingest")
	buildOnce.Do(func() {
		args := []string{"build", "-o", bin}
		if raceEnabled() {
			// Under go test -race the subprocess is raced too; GORACE in
			// cleanEnv makes a race fail it with exitRace.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, binaryPackage)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// exitRace is the subprocess's exit code when the race detector fires.
const exitRace = 66

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
