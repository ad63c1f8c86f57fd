package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

// TestRegistriesLoad: the generated registries pass the real loader and
// name exactly the files the source serves.
func TestRegistriesLoad(t *testing.T) {
	sz := defaultSizes()
	sz.noopCount, sz.planCount = 50, 1000
	ws := buildWorkloads(sz)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		yaml    string
		entries int
	}{
		{"transfer", transferRegistry("127.0.0.1:8080", 8, ws, false), 3 + sz.noopCount},
		{"plan", planRegistry("127.0.0.1:8080", sz.planCount), sz.planCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			reg, err := sources.LoadPaths([]string{p})
			if err != nil {
				t.Fatalf("load: %v\n%s", err, tc.yaml)
			}
			if len(reg.Entries) != tc.entries {
				t.Fatalf("%d entries, want %d", len(reg.Entries), tc.entries)
			}
			if tc.name != "transfer" {
				return
			}
			if hp := reg.Hosts.For("http://127.0.0.1:8080/"); hp.Concurrency != 9 {
				t.Errorf("host concurrency %d, want workers+1", hp.Concurrency)
			}
			noop := ws["noop"]
			for i, f := range noop.files {
				e, ok := reg.ByID("bench-noop-" + f.name[1:7])
				if !ok || e.URL != "http://127.0.0.1:8080"+noop.dir+f.name || e.KeyPrefix() != noop.prefix()+f.name {
					t.Fatalf("noop file %d (%s): entry %+v", i, f.name, e)
				}
			}
			for _, name := range []string{"small", "mixed", "large"} {
				e, ok := reg.ByID(ws[name].family)
				if !ok || e.KeyPrefix()+"/" != ws[name].prefix() || e.Kind != "index" {
					t.Errorf("%s: entry %+v", name, e)
				}
			}
		})
	}
}

func TestMixedSizesSpread(t *testing.T) {
	lo, hi := int64(1*mib), int64(8*mib)
	var sum float64
	seen := map[int64]bool{}
	for i := range 200 {
		s := mixedSize(i, lo, hi)
		if s < lo || s > hi {
			t.Fatalf("size %d outside [%d, %d]", s, lo, hi)
		}
		if s != mixedSize(i, lo, hi) {
			t.Fatal("not deterministic")
		}
		seen[s] = true
		sum += float64(s)
	}
	if mean := sum / 200 / mib; len(seen) < 190 || mean < 3.5 || mean > 5.5 {
		t.Errorf("%d distinct sizes, mean %.2f MiB: not spread over 1-8 MiB", len(seen), mean)
	}
}

func TestMedianAndPairs(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	a := []sample{{Wall: 1, Bytes: 100 * mib}, {Wall: 2, Bytes: 100 * mib}, {Wall: 1, Bytes: 300 * mib}}
	b := []sample{{Wall: 2, Bytes: 100 * mib}, {Wall: 1, Bytes: 100 * mib}, {Wall: 1, Bytes: 100 * mib}}
	// Ratios per round: 2, 0.5, 3 -> median 2 (not the ratio of medians).
	if got := pairMedian(a, b, func(x, y sample) float64 { return x.mibps() / y.mibps() }); got != 2 {
		t.Errorf("pair median %v, want 2", got)
	}
}

func TestCycleReader(t *testing.T) {
	c := &cycleReader{pattern: []byte("abc"), left: 10}
	buf := make([]byte, 4)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(got) != "abcabcabca" {
		t.Errorf("got %q", got)
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"A=1", "AWS_CA_BUNDLE=/x", "B=2"}, []string{"A=3", "AWS_CA_BUNDLE="})
	want := []string{"B=2", "A=3"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("childEnv = %v, want %v", got, want)
	}
}

// TestChildPeakRSSIsTheChilds: the peak RSS reported for a tiny command
// must not include this process's memory (wait4's ru_maxrss does, after a
// vfork-style start).
func TestChildPeakRSSIsTheChilds(t *testing.T) {
	if _, err := os.Stat(timeBin); err != nil {
		// Like the other tools tests need: optional on a laptop, not in CI
		// (.ci/run installs it), where a skip would hide a lost check.
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found in CI (apt-get install time): %v", timeBin, err)
		}
		t.Skipf("%s not installed (apt-get install time); required in CI", timeBin)
	}
	ballast := make([]byte, 300<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	s, _, err := child(t.Context(), filepath.Join(t.TempDir(), "log"), nil, "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxRSS <= 0 || s.MaxRSS > 50<<20 {
		t.Errorf("peak RSS of /bin/true reported as %d MiB (this test holds %d MiB)", s.MaxRSS>>20, len(ballast)>>20)
	}
	runtime.KeepAlive(ballast)
}
