package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad --pushgateway or --metrics-listen is a usage error found before
// anything runs, not a warning after the whole run.
func TestOutputFlagsCheckedFirst(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	reg := testRegistry(t, srv)
	bad := []struct {
		flag, value string
	}{
		{"--pushgateway", "ftp://pushgateway:9091"},
		{"--pushgateway", "pushgateway:9091"},
		{"--pushgateway", "http://"},
		{"--pushgateway", "http:///metrics"},
		{"--pushgateway", "://x"},
		{"--metrics-listen", "9090"},
		{"--metrics-listen", "localhost:"},
		{"--metrics-listen", "localhost:no-such-port-name"},
		{"--metrics-listen", "[::1"},
	}
	cmds := map[string][]string{
		"run":      {"run", "--registry", reg},
		"backfill": {"backfill", "--family", "t", "--registry", reg},
		"demo":     {"demo"},
	}
	for name, base := range cmds {
		for _, b := range bad {
			t.Run(name+" "+b.flag+"="+b.value, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "mirror")
				args := append(append([]string{}, base...), "--bucket", "file://"+dir, b.flag, b.value)
				code, _, errOut := runCmd(t, context.Background(), args...)
				if code != exitUsage || !strings.Contains(errOut, b.flag) {
					t.Fatalf("exit %d, stderr %q; want %d naming %s", code, errOut, exitUsage, b.flag)
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a usage error wrote %s (%v)", dir, err)
				}
			})
		}
	}
}

func TestCheckOutputFlags(t *testing.T) {
	for _, tc := range []struct {
		listen, push string
		ok           bool
	}{
		{"", "", true},
		{":9090", "http://pushgateway:9091", true},
		{"127.0.0.1:0", "https://push.example.org/prefix", true},
		{"[::1]:9090", "", true},
		{"localhost:http", "", true},
		{"", "HTTP://PUSHGATEWAY:9091", true},
		{"", "http://user:s3cr3t@:9091", false},
		{":9090:1", "", false},
	} {
		err := checkOutputFlags(tc.listen, tc.push)
		if (err == nil) != tc.ok {
			t.Errorf("checkOutputFlags(%q, %q) = %v, want ok %v", tc.listen, tc.push, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows the URL's password: %v", err)
		}
	}
}

// --registry means the same in every command: one path per flag, kept
// whole even when it holds a comma, repeated for several paths.
func TestRegistryFlagOnePathPerFlag(t *testing.T) {
	root := t.TempDir()
	comma := filepath.Join(root, "my,sources")
	other := filepath.Join(root, "other")
	// A second file with a family sst2 of three entries, and no hosts.
	sst2 := sourcesFixture[strings.Index(sourcesFixture, "families:"):strings.Index(sourcesFixture, "  - id: genes")]
	sst2 = strings.NewReplacer("id: sst", "id: sst2", "sst-{", "sst2-{", "agency/sst/", "agency/sst2/").Replace(sst2)
	for dir, yaml := range map[string]string{comma: sourcesFixture, other: sst2} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bucket := "file://" + filepath.Join(root, "mirror")
	for _, tc := range []struct {
		args []string
		out  string // on stdout
	}{
		{[]string{"sources", "list", "--registry", comma, "--registry", other}, "sst2-202501"},
		{[]string{"sources", "stats", "--json", "--registry", comma, "--registry", other}, `"total":7`},
		{[]string{"sources", "show", "sst2", "--registry", comma, "--registry", other}, "sst2-202411"},
		{[]string{"sources", "validate", "--registry", comma, other}, "ok: 2 files, 3 families, 7 entries"},
		{[]string{"plan", "--json", "--registry", comma, "--registry", other, "--bucket", bucket}, `"selected": 7`},
		{[]string{"run", "--dry-run", "--registry", comma, "--bucket", bucket}, "selected 4"},
		{[]string{"backfill", "--dry-run", "--family", "genes", "--registry", comma, "--bucket", bucket}, "selected 1"},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), tc.args...)
			if code != exitOK || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant stdout to contain %q", code, out, errOut, tc.out)
			}
		})
	}
	for _, cmd := range [][]string{{"sources", "list"}, {"plan"}} {
		code, _, errOut := runCmd(t, context.Background(), append(cmd, "--registry", "")...)
		if code != exitUsage || !strings.Contains(errOut, `invalid value "" for flag -registry: empty path`) {
			t.Errorf("%v --registry \"\": exit %d, stderr %q", cmd, code, errOut)
		}
	}
}

// --bwlimit and --max-bytes read internal/units' syntax, and a bad value is
// a usage error that names the flag, before anything is opened.
func TestBytesFlags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"1048576", 1 << 20}, {"10M", 10 << 20}, {"1.5G", 3 << 29}, {"500k", 500 << 10}, {"64MiB", 64 << 20}, {"2Ti", 2 << 40}} {
		var b bytesFlag
		if err := b.Set(tc.in); err != nil || int64(b) != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tc.in, b, err, tc.want)
		}
	}
	for _, flag := range []string{"--bwlimit", "--max-bytes"} {
		dir := filepath.Join(t.TempDir(), "mirror")
		code, _, errOut := runCmd(t, context.Background(), "run", "--bucket", "file://"+dir, flag, "10X")
		if code != exitUsage || !strings.Contains(errOut, flag[1:]) || !strings.Contains(errOut, `byte size "10X"`) {
			t.Errorf("%s 10X: exit %d, stderr %q; want %d naming the flag and the value", flag, code, errOut, exitUsage)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s 10X wrote %s (%v)", flag, dir, err)
		}
	}
}
