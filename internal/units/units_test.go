package units_test

import (
	"math"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/units"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		// What --bwlimit and --max-bytes (ingest.ParseBytes) accepted.
		{"1024", 1024}, {"10M", 10 << 20}, {"1.5G", 3 << 29}, {"2Ti", 2 << 40},
		{"500k", 500 << 10}, {"10MiB", 10 << 20}, {" 7 ", 7}, {"0", 0},
		// What probe --sizes (parseSize) accepted.
		{"1KiB", 1 << 10}, {"64MiB", 64 << 20}, {"1GiB", 1 << 30}, {"1KB", 1 << 10},
		{"3MB", 3 << 20}, {"2GB", 2 << 30}, {"5K", 5 << 10}, {"100B", 100}, {"1.5KiB", 1536},
		// The one syntax: any case, optional space, up to E, exact fractions.
		{"1 kib", 1 << 10}, {"1.5 GiB", 3 << 29}, {"4p", 4 << 50}, {"7EiB", 7 << 60},
		{"1tb", 1 << 40}, {".5K", 512}, {"2.K", 2048}, {"0.1K", 102}, {"1.9", 1},
		{"9007199254740993", 9007199254740993}, // beyond float64's exact integers
		{"9223372036854775807", math.MaxInt64},
	} {
		got, err := units.ParseBytes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseBytesRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", "-1", "+1", "ten", "1X", "lots", "K", "KiB", "B", "1i", "1iB", "1KK",
		"1e3", "0x10", "Inf", "NaN", "1_000", "1..5", "1.5.1", "1 000", "8E", "9223372036854775808",
		"1Kb2", "١٢", "1ß",
	} {
		got, err := units.ParseBytes(in)
		if err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), "byte size") {
			t.Errorf("ParseBytes(%q): error %q does not say what it wanted", in, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1, "1 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"},
		{300 << 10, "300 KiB"}, {64 << 20, "64 MiB"}, {3 << 29, "1.5 GiB"}, {1<<20 - 1, "1.0 MiB"},
		{1<<20 + 1, "1.0 MiB"}, {5 << 40, "5 TiB"}, {3 << 50, "3 PiB"}, {math.MaxInt64, "8.0 EiB"},
		{-5, "-5 B"},
	} {
		if got := units.FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// What FormatBytes prints, ParseBytes reads: exactly for whole numbers of
// a unit, to within the printed decimal otherwise.
func TestFormatParseRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 300 << 10, 64 << 20, 3 << 29, 123456789, 1<<62 + 1<<50} {
		s := units.FormatBytes(n)
		got, err := units.ParseBytes(s)
		if err != nil {
			t.Fatalf("ParseBytes(FormatBytes(%d) = %q): %v", n, s, err)
		}
		if strings.Contains(s, ".") {
			if d := math.Abs(float64(got-n)) / float64(n); d > 0.05 {
				t.Errorf("%d -> %q -> %d: off by %.1f%%", n, s, got, 100*d)
			}
		} else if got != n {
			t.Errorf("%d -> %q -> %d", n, s, got)
		}
	}
}
