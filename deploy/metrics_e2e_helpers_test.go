package deploy

// Helpers for metrics_e2e_test.go: the daemons (Prometheus, Pushgateway) as
// subprocesses on loopback, a client for Prometheus' HTTP API, the
// astroingest binary built from the repository root, and a slow file server
// for the runs to mirror.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requireBinary finds a program of a Debian package: missing, it fails the
// test in CI (env CI set) and skips it locally.
func requireBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found in CI (apt-get install %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found (apt-get install %s); required in CI: %v", name, pkg, err)
	}
	return p
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string) string {
	const limit = 4000
	if len(s) > limit {
		return "...\n" + s[len(s)-limit:]
	}
	return s
}

// daemon is a long-running subprocess, stopped when the test ends.
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startDaemon(t *testing.T, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, cmd: exec.Command(bin, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(d.out.String()))
		}
	})
	return d
}

// waitReady polls base+"/-/ready" (both daemons serve it) until it answers
// 200, failing early if the daemon exits.
func (d *daemon) waitReady(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.done:
			t.Fatalf("%s exited before it was ready:\n%s", d.name, tail(d.out.String()))
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after %v (last: %v):\n%s", d.name, base, timeout, err, tail(d.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildAstroingest builds the service's command from the repository root
// (this module's parent) into dir.
func buildAstroingest(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "astroingest")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/astroingest")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/astroingest: %w\n%s", err, out)
	}
	return bin, nil
}

// cleanEnv is the environment without what would change a run's bucket,
// shard (and so its push group) or credentials.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "ASTROINGEST_"), strings.HasPrefix(name, "R2_"),
			name == "JOB_COMPLETION_INDEX", name == "SHARD_COUNT", name == "CDS_API_KEY", name == "NCBI_API_KEY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runResult is a finished astroingest process.
type runResult struct {
	code           int
	stdout, stderr string
}

func runAstroingest(ctx context.Context, bin string, args ...string) (runResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return runResult{}, fmt.Errorf("astroingest %s: %w", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		return runResult{}, fmt.Errorf("astroingest %s: %w\n%s", strings.Join(args, " "), ctx.Err(), tail(stderr.String()))
	}
	return runResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}, nil
}

// promSeries is one series of a query result; an instant vector has one
// value. Values keep NaN, which Prometheus sends as the string "NaN".
type promSeries struct {
	Metric map[string]string
	Times  []float64 // Unix seconds of Values, for messages
	Values []float64
}

func (s promSeries) max() float64 {
	m := math.NaN()
	for _, v := range s.Values {
		if !math.IsNaN(v) && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// promClient speaks Prometheus' HTTP API (/api/v1).
type promClient struct{ base string }

// get decodes the data of a successful API answer into out; an API error
// (a bad expression, say) becomes the error.
func (p promClient) get(ctx context.Context, path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not an API answer: %w: %.300s", path, resp.StatusCode, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s %s: %s: %s", path, q.Encode(), env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

func parseSample(v []any) (at, value float64, err error) {
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("sample %v: want [time, value]", v)
	}
	at, ok := v[0].(float64)
	s, ok2 := v[1].(string)
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("sample %v: want [number, string]", v)
	}
	value, err = strconv.ParseFloat(s, 64)
	return at, value, err
}

// query runs an instant query at now.
func (p promClient) query(ctx context.Context, expr string) ([]promSeries, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var res []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &res); err != nil {
			return nil, err
		}
		out := make([]promSeries, 0, len(res))
		for _, r := range res {
			at, v, err := parseSample(r.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, promSeries{Metric: r.Metric, Times: []float64{at}, Values: []float64{v}})
		}
		return out, nil
	case "scalar":
		var res []any
		if err := json.Unmarshal(data.Result, &res); err != nil {
			return nil, err
		}
		at, v, err := parseSample(res)
		if err != nil {
			return nil, err
		}
		return []promSeries{{Metric: map[string]string{}, Times: []float64{at}, Values: []float64{v}}}, nil
	}
	return nil, fmt.Errorf("query %q: result type %q, want vector or scalar", expr, data.ResultType)
}

// queryRange runs a range query, as Grafana does for time series panels.
func (p promClient) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]promSeries, error) {
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {step.String()},
	}
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query_range", q, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "matrix" {
		return nil, fmt.Errorf("query_range %q: result type %q, want matrix", expr, data.ResultType)
	}
	out := make([]promSeries, 0, len(data.Result))
	for _, r := range data.Result {
		s := promSeries{Metric: r.Metric}
		for _, v := range r.Values {
			at, f, err := parseSample(v)
			if err != nil {
				return nil, err
			}
			s.Times = append(s.Times, at)
			s.Values = append(s.Values, f)
		}
		out = append(out, s)
	}
	return out, nil
}

// promRule is one rule of /api/v1/rules.
type promRule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	Type      string `json:"type"`
	State     string `json:"state"`
	Alerts    []struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	} `json:"alerts"`
}

type promRuleGroup struct {
	Name  string     `json:"name"`
	File  string     `json:"file"`
	Rules []promRule `json:"rules"`
}

func (p promClient) rules(ctx context.Context) ([]promRuleGroup, error) {
	var data struct {
		Groups []promRuleGroup `json:"groups"`
	}
	err := p.get(ctx, "/api/v1/rules", url.Values{"type": {"alert"}}, &data)
	return data.Groups, err
}

// series returns the label sets of every series matching sel.
func (p promClient) series(ctx context.Context, sel string) ([]map[string]string, error) {
	var data []map[string]string
	err := p.get(ctx, "/api/v1/series", url.Values{"match[]": {sel}}, &data)
	return data, err
}

func (p promClient) labelValues(ctx context.Context, label, match string) ([]string, error) {
	var data []string
	err := p.get(ctx, "/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &data)
	return data, err
}

// eventually polls check until it reports done, failing with its last
// explanation after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// slowSource serves the files the test registry names, slowly enough that a
// scrape every second sees a run in progress, and can make some of them
// vanish (404) for the failing run.
type slowSource struct {
	files map[string][]byte // URL path -> content

	mu      sync.Mutex
	delay   time.Duration   // time to send one whole body
	missing map[string]bool // URL paths answered 404
}

func newSlowSource(paths []string, size int) *slowSource {
	r := rand.New(rand.NewPCG(5, 9))
	s := &slowSource{files: map[string][]byte{}, missing: map[string]bool{}}
	for _, p := range paths {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		s.files[p] = b
	}
	return s
}

func (s *slowSource) set(delay time.Duration, missing ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = delay
	s.missing = map[string]bool{}
	for _, p := range missing {
		s.missing[p] = true
	}
}

var lastModified = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)

func (s *slowSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delay, missing := s.delay, s.missing[r.URL.Path]
	s.mu.Unlock()
	body, ok := s.files[r.URL.Path]
	if !ok || missing {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Last-Modified", lastModified)
	if r.Method == http.MethodHead {
		return
	}
	const chunks = 20
	per := (len(body) + chunks - 1) / chunks
	flusher, _ := w.(http.Flusher)
	for off := 0; off < len(body); off += per {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(delay / chunks):
		}
		if _, err := w.Write(body[off:min(off+per, len(body))]); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}
