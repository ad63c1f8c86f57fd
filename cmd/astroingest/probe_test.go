package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/bucket/probe"
)

func runCmd(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestProbeFileBucket(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCmd(t, context.Background(), "probe", "--bucket", "file://"+dir, "--rounds", "3", "--sizes", "1KiB,300KiB", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	var rep probe.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(rep.Ops) != 10 {
		t.Fatalf("got %d op rows, want 5 ops x 2 sizes", len(rep.Ops))
	}
	for _, s := range rep.Ops {
		if s.Count != 3 {
			t.Errorf("%s %s: %d samples, want 3", s.Op, s.Size, s.Count)
		}
		if s.P50ms > s.P95ms || s.P95ms > s.P99ms {
			t.Errorf("%s %s: percentiles out of order: %v %v %v", s.Op, s.Size, s.P50ms, s.P95ms, s.P99ms)
		}
	}
	assertNoProbeObjects(t, dir)
}

func assertNoProbeObjects(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(dir, "_probe"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("probe left %s behind", p)
		}
		return nil
	})
}

func TestProbeInterruptedCleansUp(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	code, _, errOut := runCmd(t, ctx, "probe", "--bucket", "file://"+dir, "--rounds", "100000", "--sizes", "64KiB")
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInterrupted, errOut)
	}
	assertNoProbeObjects(t, dir)
}

// Bad configuration exits 2 with a message that names the fix, and writes
// nothing.
func TestBadBucketConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bucket string
		env    map[string]string
		want   []string
	}{
		{"unknown scheme", "gs://data", nil, []string{`unknown scheme "gs"`, "file://DIR", "s3://BUCKET"}},
		{"no scheme", "./mirror", nil, []string{"--bucket", "file://DIR"}},
		{"s3 without credentials", "s3://astro-data", map[string]string{"AWS_REGION": "us-east-1"}, []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}},
		{"r2 without account", "r2://astro-data", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value-never-shown"}, []string{"R2_ACCOUNT_ID"}},
		{"unreachable endpoint", "s3://astro-data", map[string]string{
			"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value-never-shown",
			"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1",
		}, []string{"not usable", "AWS_ENDPOINT_URL_S3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "R2_ACCOUNT_ID", "AWS_PROFILE", "ASTROINGEST_BUCKET"} {
				t.Setenv(k, "")
			}
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			wd := t.TempDir()
			t.Chdir(wd)
			code, out, errOut := runCmd(t, context.Background(), "probe", "--bucket", tc.bucket, "--rounds", "1", "--sizes", "1KiB")
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut+out, "s3cr3t-value-never-shown") {
				t.Errorf("a secret appears in the output:\n%s", errOut)
			}
			if ents, _ := os.ReadDir(wd); len(ents) != 0 {
				t.Errorf("bad configuration wrote %d files into the working directory", len(ents))
			}
		})
	}
}

func TestUsage(t *testing.T) {
	code, out, _ := runCmd(t, context.Background(), "--help")
	if code != exitOK || !strings.Contains(out, "probe") || !strings.Contains(out, "Exit codes") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	code, _, errOut := runCmd(t, context.Background(), "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCmd(t, context.Background(), "probe", "--rounds", "zero")
	if code != exitUsage || !strings.Contains(errOut, "-rounds") {
		t.Fatalf("bad flag: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCmd(t, context.Background(), "probe", "--sizes", "1KiB,lots")
	if code != exitUsage || !strings.Contains(errOut, `"lots"`) {
		t.Fatalf("bad size: exit %d\n%s", code, errOut)
	}
}

// unreadable fails every read, as a bucket that accepts writes but cannot
// serve them back would.
type unreadable struct{ bucket.Bucket }

func (unreadable) Open(context.Context, string, *bucket.Range) (io.ReadCloser, error) {
	return nil, errors.New("read refused by the test")
}

// A probe that finds the data flow broken exits 1, prints its report with
// the errors and says so on stderr. (bucket/probe tests what it detects.)
func TestProbeFailureExitsOne(t *testing.T) {
	for _, jsonOut := range []bool{true, false} {
		var out, errOut bytes.Buffer
		opts := probe.Options{Rounds: 2, Sizes: []int64{1024}, Logger: slog.New(slog.DiscardHandler)}
		code := probeAndReport(context.Background(), unreadable{mem.New()}, opts, jsonOut, &out, &errOut)
		if code != exitFailed {
			t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, out.String(), errOut.String())
		}
		if jsonOut {
			var rep probe.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, out.String())
			}
			if len(rep.Errors) != 2*opts.Rounds {
				t.Errorf("%d errors, want %d: %q", len(rep.Errors), 2*opts.Rounds, rep.Errors)
			}
		} else if !strings.Contains(out.String(), "4 errors:") || !strings.Contains(out.String(), "read refused by the test") {
			t.Errorf("the table does not list the errors:\n%s", out.String())
		}
		if !strings.Contains(errOut.String(), "probe: round 0 get _probe/") {
			t.Errorf("stderr does not report the failure:\n%s", errOut.String())
		}
	}
}
