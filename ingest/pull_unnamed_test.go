package ingest

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
)

// TestStagingBothWays: a staged file, unnamed or named, has no final name
// until it is committed, replaces an older file only whole, and leaves
// nothing behind when discarded.
func TestStagingBothWays(t *testing.T) {
	for _, unnamed := range []bool{true, false} {
		for _, tc := range []struct {
			name    string
			old     string // a file already at the final name
			discard bool
			want    string // the final file's content; "" for none
		}{
			{name: "new file", want: "new bytes"},
			{name: "replaces a file", old: "old bytes", want: "new bytes"},
			{name: "discarded", discard: true},
			{name: "discarded beside a file", old: "old bytes", discard: true, want: "old bytes"},
		} {
			t.Run(map[bool]string{true: "unnamed", false: "named"}[unnamed]+"/"+tc.name, func(t *testing.T) {
				root := t.TempDir()
				d, _, err := openLocalDir(root)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if unnamed && !d.unnamed {
					if runtime.GOOS == "linux" {
						t.Fatalf("%s takes no O_TMPFILE files: the probe failed", root)
					}
					t.Skip("unnamed files are a Linux feature")
				}
				d.unnamed = unnamed
				const key = "astronomy/t/x.fits"
				dir := filepath.Join(root, "astronomy", "t")
				if tc.old != "" {
					os.MkdirAll(dir, 0o755)
					os.WriteFile(filepath.Join(dir, "x.fits"), []byte(tc.old), 0o644)
				}
				f, tmp, err := d.createTemp(key)
				if err != nil {
					t.Fatal(err)
				}
				if unnamed != (tmp == "") {
					t.Fatalf("unnamed %v but temporary name %q", unnamed, tmp)
				}
				f.WriteString("new bytes")
				want := []string{}
				if tc.old != "" {
					want = append(want, "x.fits")
				}
				if !unnamed {
					want = append(want, filepath.Base(tmp))
				}
				slices.Sort(want)
				if got := names(t, dir); !slices.Equal(got, want) {
					t.Errorf("while staged: %v, want %v", got, want)
				}
				s := &stagedFile{dir: d, f: f, tmp: tmp, name: key}
				if tc.discard {
					s.discard()
				} else if _, err := s.commit(); err != nil {
					t.Fatal(err)
				}
				wantNames := []string{}
				if tc.want != "" {
					wantNames = append(wantNames, "x.fits")
				}
				if got := names(t, dir); !slices.Equal(got, wantNames) {
					t.Errorf("after: %v, want %v", got, wantNames)
				}
				if tc.want != "" {
					if b, _ := os.ReadFile(filepath.Join(dir, "x.fits")); string(b) != tc.want {
						t.Errorf("x.fits holds %q, want %q", b, tc.want)
					}
				}
			})
		}
	}
}

// names lists dir's entries, sorted; a missing dir has none.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// BenchmarkPullStaging pulls 5,000 objects of 16 KiB from an in-memory
// bucket, staged unnamed and named, so that only the local side is
// measured. Into tmpfs it is pull's own cost per file:
//
//	ASTROINGEST_BENCH_DIR=/dev/shm go test -run '^$' -bench PullStaging -count 5 ./ingest/
func BenchmarkPullStaging(b *testing.B) {
	base := os.Getenv("ASTROINGEST_BENCH_DIR")
	if base == "" {
		base = b.TempDir()
	}
	bkt := mem.New()
	files := map[string][]byte{}
	for i := range 5000 {
		data := make([]byte, 16<<10)
		binary.BigEndian.PutUint32(data, uint32(i))
		files[fmt.Sprintf("astronomy/bench/f%06d.bin", i)] = data
	}
	putMirror(b, bkt, pullEntry{id: "bench", domain: "astronomy", family: "bench", files: files})
	for _, unnamed := range []bool{true, false} {
		b.Run(map[bool]string{true: "unnamed", false: "named"}[unnamed], func(b *testing.B) {
			for b.Loop() {
				dir, err := os.MkdirTemp(base, "pull-staging-")
				if err != nil {
					b.Fatal(err)
				}
				cfg := pullCfg(bkt, dir)
				cfg.namedOnly = !unnamed
				if sum, err := Pull(context.Background(), cfg); err != nil || sum.Fetched != len(files) {
					b.Fatalf("%v, %+v", err, sum)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

// Past maxDirHandles a directory is not kept open, so it has no handle to
// link an unnamed file through: its files are staged named, and land.
func TestStagingPastDirHandlesIsNamed(t *testing.T) {
	root := t.TempDir()
	d, _, err := openLocalDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.unnamed = true
	for i := range maxDirHandles {
		r, err := d.root.OpenRoot(".")
		if err != nil {
			t.Fatal(err)
		}
		d.dirs[fmt.Sprintf("held/%d", i)] = r
	}
	const key = "astronomy/t/x.fits"
	f, tmp, err := d.createTemp(key)
	if err != nil {
		t.Fatal(err)
	}
	if tmp == "" {
		t.Fatal("staged unnamed in a directory that is not kept open")
	}
	f.WriteString("bytes")
	if _, err := (&stagedFile{dir: d, f: f, tmp: tmp, name: key}).commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key))); err != nil || string(b) != "bytes" {
		t.Errorf("%s: %q, %v", key, b, err)
	}
}
