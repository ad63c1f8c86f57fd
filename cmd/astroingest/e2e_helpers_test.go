package main

// Helpers for e2e_test.go: the built binary run as a subprocess, a versitygw
// bucket, registries written to a temp dir, and reads of the bucket that go
// around the code under test (the plain SDK client).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/versitygw"
)

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

// binary builds the command once, on first use, so that tests that do not
// need it (the unit tests of this package) do not pay for the build.
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
		cmd := exec.Command("go", append(args, ".")...)
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
			name == "JOB_COMPLETION_INDEX", name == "SHARD_COUNT", name == "CDS_API_KEY", name == "NCBI_API_KEY", name == "GORACE":
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
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	code   int
}

// start launches the binary with args, then --registry and --bucket.
func (x *e2e) start(args ...string) *proc {
	x.t.Helper()
	if x.registry != "" && args[0] != "verify" {
		args = append(args, "--registry", x.registry)
	}
	args = append(args, "--bucket", "s3://"+x.bucket)
	cmd := exec.Command(x.bin, args...)
	cmd.Env = x.env
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
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
	p := x.start(args...)
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

// lockedBuffer is written by the exec package's copying goroutine (or a
// command running in-process) while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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

// ---- bucket reads through the plain SDK client ----

func (x *e2e) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	x.t.Cleanup(cancel)
	return ctx
}

// objInfo is what the gateway reports for an object, plus the identity of
// the gateway's backing file, so a rewrite with equal bytes is still seen.
type objInfo struct {
	size    int64
	etag    string
	lastMod time.Time
	file    os.FileInfo
}

// list returns every object under prefix.
func (x *e2e) list(prefix string) map[string]objInfo {
	x.t.Helper()
	out := map[string]objInfo{}
	p := awss3.NewListObjectsV2Paginator(x.s3, &awss3.ListObjectsV2Input{Bucket: aws.String(x.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(x.ctx())
		if err != nil {
			x.t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			fi, _ := os.Stat(filepath.Join(x.gw.Dir, x.bucket, filepath.FromSlash(k)))
			out[k] = objInfo{size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag), lastMod: aws.ToTime(o.LastModified), file: fi}
		}
	}
	return out
}

func (x *e2e) get(key string) []byte {
	x.t.Helper()
	out, err := x.s3.GetObject(x.ctx(), &awss3.GetObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(key)})
	if err != nil {
		x.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		x.t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// exists reports whether key is a visible object.
func (x *e2e) exists(key string) bool {
	x.t.Helper()
	_, err := x.s3.HeadObject(x.ctx(), &awss3.HeadObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(key)})
	var ae smithy.APIError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey"):
		return false
	}
	x.t.Fatalf("head %s: %v", key, err)
	return false
}

func (x *e2e) getJSON(key string, v any) {
	x.t.Helper()
	if err := json.Unmarshal(x.get(key), v); err != nil {
		x.t.Fatalf("decode %s: %v", key, err)
	}
}

// uploads lists the unfinished multipart uploads in the bucket by key.
func (x *e2e) uploads() []string {
	x.t.Helper()
	var keys []string
	in := &awss3.ListMultipartUploadsInput{Bucket: aws.String(x.bucket)}
	for {
		out, err := x.s3.ListMultipartUploads(x.ctx(), in)
		if err != nil {
			x.t.Fatalf("list multipart uploads: %v", err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	sort.Strings(keys)
	return keys
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ---- registry YAML ----

// hostYAML is one host policy; extra is appended verbatim (indented lines).
func hostYAML(srv *emulator.Server, conc int, rps float64, extra string) string {
	return fmt.Sprintf("  - host: %q\n    concurrency: %d\n    rps: %g\n%s", strings.TrimPrefix(srv.URL(), "http://"), conc, rps, extra)
}

// fam is one family of a test registry. With Names the family expands over
// {n}; ID, Key, URL and Checksums may then use {n}.
type fam struct {
	ID, Domain, Kind, Key, URL, Checksums string
	Names                                 []string
	Params                                map[string]string
}

func (f fam) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - id: %s\n    domain: %s\n    title: \"E2E %s\"\n    provider: \"Emulator\"\n", f.ID, f.Domain, f.ID)
	fmt.Fprintf(&b, "    license: \"CC0\"\n    citation: \"Emulator (2025)\"\n    homepage: \"https://example.org/%s\"\n", f.ID)
	fmt.Fprintf(&b, "    kind: %s\n    schedule: monthly\n    allow_http: true\n    allow_http_reason: \"loopback emulator\"\n", f.Kind)
	id := f.ID
	if len(f.Names) > 0 {
		quoted := make([]string, len(f.Names))
		for i, n := range f.Names {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		fmt.Fprintf(&b, "    expand:\n      - list: {var: n, values: [%s]}\n", strings.Join(quoted, ", "))
		id += "-{n}"
	}
	fmt.Fprintf(&b, "    entry:\n      id: %q\n      key: %q\n      url: %q\n", id, f.Key, f.URL)
	if f.Checksums != "" {
		fmt.Fprintf(&b, "      checksums: %q\n", f.Checksums)
	}
	if len(f.Params) > 0 {
		b.WriteString("      params:\n")
		keys := make([]string, 0, len(f.Params))
		for k := range f.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "        %s: %q\n", k, f.Params[k])
		}
	}
	return b.String()
}

func registryYAML(hosts []string, fams ...fam) string {
	var b strings.Builder
	if len(hosts) > 0 {
		b.WriteString("hosts:\n")
		for _, h := range hosts {
			b.WriteString(h)
		}
	}
	b.WriteString("families:\n")
	for _, f := range fams {
		b.WriteString(f.yaml())
	}
	return b.String()
}

// ---- emulator request log ----

// validators is what the emulator serves a data file with, read with one
// HEAD before the requests under test.
type validators struct {
	etag    string
	lastMod time.Time
}

func headValidators(t *testing.T, srv *emulator.Server, path string) validators {
	t.Helper()
	resp, err := srv.Client().Head(srv.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %d", path, resp.StatusCode)
	}
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("HEAD %s: Last-Modified: %v", path, err)
	}
	return validators{etag: resp.Header.Get("ETag"), lastMod: lm}
}

// notModified reports whether the emulator (net/http.ServeContent) answers
// r with 304: If-None-Match takes precedence, else If-Modified-Since.
func notModified(r emulator.Request, v validators) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(v.etag, "W/") {
				return true
			}
		}
		return false
	}
	ims, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !v.lastMod.After(ims)
}
