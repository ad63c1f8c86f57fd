package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// presignFiles are what the test publisher serves, by the key they are
// mirrored under (testRegistry: family t, domain astronomy).
var presignFiles = map[string]string{
	"astronomy/test/a.dat": "alpha alpha alpha",
	"astronomy/test/b.dat": "bravo",
}

// s3Mirror backfills entries t-a and t-b of testRegistry into a real S3
// server (versitygw) under a prefix, and returns the bucket URL and the
// gateway, whose credentials are set in the environment.
func s3Mirror(t *testing.T) (string, *versitygw.Server) {
	t.Helper()
	gw := versitygw.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	t.Setenv("AWS_REGION", versitygw.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", gw.Endpoint)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := presignFiles["astronomy/test"+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	url := "s3://" + gw.Bucket + "/mirror"
	code, _, errOut := runCmd(t, context.Background(), "backfill", "--source", "t-[ab]", "--registry", testRegistry(t, srv), "--bucket", url)
	if code != exitOK {
		t.Fatalf("backfill: exit %d\n%s", code, errOut)
	}
	return url, gw
}

// aria2Item is one URI of an aria2c input file with its options.
type aria2Item struct {
	url  string
	opts map[string]string
}

// parseAria2 reads an aria2c input file as aria2c does: a line that starts
// with white space is an option NAME=VALUE of the URI line before it.
func parseAria2(t *testing.T, s string) []aria2Item {
	t.Helper()
	var items []aria2Item
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] != ' ' && line[0] != '\t' {
			items = append(items, aria2Item{url: line, opts: map[string]string{}})
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || len(items) == 0 {
			t.Fatalf("aria2 option line %q: no NAME=VALUE or no URI before it", line)
		}
		items[len(items)-1].opts[k] = v
	}
	return items
}

// fetch GETs url with no credentials, as a training pod does.
func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// noSecrets fails when stderr (the log) carries any part of a presigned
// URL or of the credentials it was signed with.
func noSecrets(t *testing.T, stderr string, gw *versitygw.Server) {
	t.Helper()
	for _, s := range []string{"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", gw.AccessKey, gw.SecretKey} {
		if strings.Contains(stderr, s) {
			t.Errorf("stderr carries %q:\n%s", s, stderr)
		}
	}
}

// presign prints URLs that a client without credentials reads the
// selected objects with, byte for byte; the aria2 format names each
// object's key and recorded sha256; nothing secret reaches stderr.
func TestPresignVersitygw(t *testing.T) {
	url, gw := s3Mirror(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string // keys, in order
	}{
		{"one entry, lines", []string{"--source", "t-a"}, []string{"astronomy/test/a.dat"}},
		{"glob, aria2", []string{"--source", "t-*", "--format", "aria2"}, []string{"astronomy/test/a.dat", "astronomy/test/b.dat"}},
		{"family, aria2", []string{"--family", "t", "--format", "aria2", "--expires", "7d"}, []string{"astronomy/test/a.dat", "astronomy/test/b.dat"}},
		{"domain, lines", []string{"--domain", "astronomy", "--expires", "1h"}, []string{"astronomy/test/a.dat", "astronomy/test/b.dat"}},
		{"no selection is the whole catalog", nil, []string{"astronomy/test/a.dat", "astronomy/test/b.dat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"presign", "--debug", "--bucket", url}, tc.args...)
			code, out, errOut := runCmd(t, context.Background(), args...)
			noSecrets(t, errOut, gw)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			aria2 := slices.Contains(tc.args, "aria2")
			var got []string
			for i, it := range parseAria2(t, out) {
				status, body := fetch(t, it.url)
				key := it.opts["out"]
				if !aria2 {
					key = tc.want[min(i, len(tc.want)-1)]
					if len(it.opts) != 0 {
						t.Errorf("lines format has option lines: %v", it.opts)
					}
				}
				got = append(got, key)
				if status != http.StatusOK || string(body) != presignFiles[key] {
					t.Errorf("GET %s: %d %q, want 200 %q", key, status, body, presignFiles[key])
				}
				sum := sha256.Sum256([]byte(presignFiles[key]))
				if want := "sha-256=" + hex.EncodeToString(sum[:]); aria2 && it.opts["checksum"] != want {
					t.Errorf("%s: checksum=%s, want %s", key, it.opts["checksum"], want)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("objects %v, want %v\n%s", got, tc.want, out)
			}
		})
	}
}

// presign names the objects and sha256 that pull verifies against: the
// entry's object index when it has one, else its head's records, with a
// warning naming the entry.
func TestPresignReadsTheIndex(t *testing.T) {
	url, gw := s3Mirror(t)
	ctx := context.Background()
	b, err := openBucket(ctx, url, os.Getenv, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// t-a's index now says the entry is one object, c.dat, and what it
	// hashes to; its head's records still say a.dat.
	meta := annotations.Meta{ID: "t-a", Domain: "astronomy", Family: "t"}
	rows := func(yield func(index.Row, error) bool) {
		yield(index.Row{Key: "astronomy/test/c.dat", Size: 7, SHA256: strings.Repeat("ab", 32)}, nil)
	}
	if _, err := index.Write(ctx, b, index.Key(meta, nil), rows); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, index.Key(annotations.Meta{ID: "t-b", Domain: "astronomy", Family: "t"}, nil)); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, ctx, "presign", "--bucket", url, "--format", "aria2")
	noSecrets(t, errOut, gw)
	items := parseAria2(t, out)
	if code != exitOK || len(items) != 2 {
		t.Fatalf("exit %d, %d items\n%s\n%s", code, len(items), out, errOut)
	}
	if got := items[0].opts; got["out"] != "astronomy/test/c.dat" || got["checksum"] != "sha-256="+strings.Repeat("ab", 32) {
		t.Errorf("t-a: %v, want c.dat and the index's sha256", got)
	}
	if got := items[1].opts["out"]; got != "astronomy/test/b.dat" {
		t.Errorf("t-b (no index): %s, want b.dat from its records", got)
	}
	if !strings.Contains(errOut, "entry has no object index") || !strings.Contains(errOut, `"entry":"t-b"`) {
		t.Errorf("no warning naming t-b:\n%s", errOut)
	}
}

// A URL signed for a second is refused once the second is over.
func TestPresignExpired(t *testing.T) {
	url, gw := s3Mirror(t)
	code, out, errOut := runCmd(t, context.Background(), "presign", "--source", "t-b", "--expires", "1s", "--bucket", url)
	noSecrets(t, errOut, gw)
	if code != exitOK || strings.Count(out, "\n") != 1 {
		t.Fatalf("exit %d, want one URL\n%s%s", code, out, errOut)
	}
	u := strings.TrimSpace(out)
	// SigV4 counts whole seconds from X-Amz-Date: wait past both.
	time.Sleep(2100 * time.Millisecond)
	if status, body := fetch(t, u); status != http.StatusForbidden || strings.Contains(string(body), "bravo") {
		t.Errorf("expired URL: %d %q, want 403", status, body)
	}
}

// Bad flags and buckets that cannot presign are usage errors that name
// the flag or the bucket and print nothing on stdout.
func TestPresignUsage(t *testing.T) {
	// A complete mirror, so that file:// is refused for what it is, not
	// for being empty.
	mirror, _ := mirrored(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"8 days", []string{"--expires", "8d"}, exitUsage, []string{"--expires 8d", "7 days"}},
		{"a second too long", []string{"--expires", "168h1s"}, exitUsage, []string{"--expires 168h1s"}},
		{"zero", []string{"--expires", "0s"}, exitUsage, []string{"--expires 0s"}},
		{"negative", []string{"--expires", "-1h"}, exitUsage, []string{"--expires -1h"}},
		{"not a duration", []string{"--expires", "soon"}, exitUsage, []string{"-expires", "soon"}},
		{"format", []string{"--format", "csv"}, exitUsage, []string{`--format "csv"`, "lines or aria2"}},
		{"domain", []string{"--domain", "geology"}, exitUsage, []string{`--domain "geology"`}},
		{"glob", []string{"--source", "t-[a"}, exitUsage, []string{`--source "t-[a"`}},
		{"file bucket", nil, exitUsage, []string{"presign needs an s3:// or r2:// bucket"}},
		{"argument", []string{"t-a"}, exitUsage, []string{`unexpected argument "t-a"`}},
		{"help", []string{"--help"}, exitOK, []string{"no key", "aria2c -i urls.txt --check-integrity=true", "7 days", "stdout only", "--expires", "--format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"presign", "--bucket", mirror}, tc.args...)
			code, out, errOut := runCmd(t, context.Background(), args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// An S3 bucket without a mirror, or a selection the catalog has nothing
// for, is a usage error, not an empty list that looks like success.
func TestPresignNothingSelected(t *testing.T) {
	url, gw := s3Mirror(t)
	for _, tc := range []struct {
		name, bucket string
		args         []string
		want         string
	}{
		{"no mirror", "s3://" + gw.Bucket + "/elsewhere", nil, "no mirror found"},
		{"no entry", url, []string{"--domain", "climate"}, "no entry of the catalog matches the selection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), append([]string{"presign", "--bucket", tc.bucket}, tc.args...)...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, %q", code, out, errOut, exitUsage, tc.want)
			}
		})
	}
}
