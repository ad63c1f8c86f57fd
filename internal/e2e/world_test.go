package e2e

// One test's world: the gateway, the environment, and the binary run as a
// subprocess whose output is read while it runs.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/internal/proctest"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// e2e is one test's world: a gateway bucket, a registry and the binary.
type e2e struct {
	t        *testing.T
	bin      string
	gw       *versitygw.Server
	s3       *awss3.Client
	bucket   string
	registry string
	env      []string
}

// newE2E starts a gateway (skipping locally without one, failing in CI)
// and builds the binary.
func newE2E(t *testing.T) *e2e {
	t.Helper()
	gw := versitygw.Start(t)
	x := &e2e{t: t, gw: gw, s3: gw.Client(), bucket: gw.Bucket, bin: binary(t)}
	x.env = cleanEnv(
		"AWS_ACCESS_KEY_ID="+gw.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+gw.SecretKey,
		"AWS_REGION="+versitygw.Region,
		"AWS_ENDPOINT_URL_S3="+gw.Endpoint,
	)
	return x
}

// cleanEnv is the test process's environment without anything that could
// change the binary's behaviour (credentials, bucket, shard), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "ASTROINGEST_"), strings.HasPrefix(name, "R2_"),
			name == "JOB_COMPLETION_INDEX", name == "SHARD_COUNT", name == "CDS_API_KEY", name == "NCBI_API_KEY", name == "GORACE",
			name == "JOB_NAME", name == "JOB_UID", name == "CRONJOB_NAME":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, fmt.Sprintf("GORACE=halt_on_error=1 exitcode=%d", exitRace))
	return append(env, extra...)
}

// writeRegistry writes the YAML into the test's temp dir and remembers it.
func (x *e2e) writeRegistry(yaml string) {
	x.t.Helper()
	p := filepath.Join(x.t.TempDir(), "registry.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		x.t.Fatal(err)
	}
	x.registry = p
}

// proc is a running astroingest subprocess.
type proc struct {
	cmd    *exec.Cmd
	stdout *proctest.Buffer
	stderr *proctest.Buffer
	done   chan struct{}
	code   int
}

// start launches the binary with args, then --registry and --bucket.
func (x *e2e) start(args ...string) *proc {
	x.t.Helper()
	return x.startWith(nil, args...)
}

// startWith is start with env added to the test's environment (a Job's
// identity, say).
func (x *e2e) startWith(env []string, args ...string) *proc {
	x.t.Helper()
	if x.registry != "" && args[0] != "verify" {
		args = append(args, "--registry", x.registry)
	}
	args = append(args, "--bucket", "s3://"+x.bucket)
	cmd := exec.Command(x.bin, args...)
	cmd.Env = append(slices.Clone(x.env), env...)
	p := &proc{cmd: cmd, stdout: &proctest.Buffer{}, stderr: &proctest.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		x.t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		err := cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.code = -1
		}
		close(p.done)
	}()
	x.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code (-1 with a signal), failing after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v did not finish within %v; stderr:\n%s", p.cmd.Args[1:], timeout, tail(p.stderr.String()))
		return -1
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// run runs the binary to completion and checks its exit code.
func (x *e2e) run(want int, args ...string) *proc {
	x.t.Helper()
	return x.runWith(want, nil, args...)
}

// runWith is run with env added to the test's environment.
func (x *e2e) runWith(want int, env []string, args ...string) *proc {
	x.t.Helper()
	p := x.startWith(env, args...)
	if code := p.wait(x.t, 60*time.Second); code != want {
		x.t.Fatalf("astroingest %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, tail(p.stdout.String()), tail(p.stderr.String()))
	}
	return p
}

func tail(s string) string {
	const max = 6000
	if len(s) > max {
		return "..." + s[len(s)-max:]
	}
	return s
}

// logLines decodes the JSON log lines the binary writes to a non-terminal
// stderr; other lines (the final error line) are skipped.
func logLines(stderr string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randBytes(seed uint64, n int) []byte { return buckettest.Data(int64(n), seed) }
