package bucket_test

import (
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

func TestValidateKey(t *testing.T) {
	long := strings.Repeat("k", bucket.MaxKeyLen+1)
	for _, tc := range []struct {
		key, want string
	}{
		{"climate/noaa/ersst.v5.185401.nc", ""},
		{"biology/ncbi/GCF_000001405.40/a b+c=d.txt", ""},
		{"astronomy/ünïcode/名前.fits", ""},
		{strings.Repeat("k", bucket.MaxKeyLen), ""},
		{"", `invalid object key "": empty key`},
		{long, `invalid object key "` + long[:80] + `...": 1025 bytes, longer than the 1024-byte limit`},
		{"/climate/x", `invalid object key "/climate/x": leading '/'`},
		{"climate/../biology/x", `invalid object key "climate/../biology/x": ".." segment`},
		{"climate/./x", `invalid object key "climate/./x": "." segment`},
		{"climate//x", `invalid object key "climate//x": empty path segment ("//" or trailing '/')`},
		{"climate/x/", `invalid object key "climate/x/": empty path segment ("//" or trailing '/')`},
		{"climate/x\ny", `invalid object key "climate/x\ny": control character U+000A at byte 9`},
		{"climate/x\x7f", `invalid object key "climate/x\x7f": control character U+007F at byte 9`},
		{`climate\x`, `invalid object key "climate\\x": backslash at byte 7`},
		{"climate/\xff", `invalid object key "climate/\xff": not valid UTF-8`},
	} {
		err := bucket.ValidateKey(tc.key)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ValidateKey(%q)\n got  %s\n want %s", tc.key, got, tc.want)
		}
	}
}

func TestClamp(t *testing.T) {
	for _, tc := range []struct {
		r      bucket.Range
		size   int64
		lo, hi int64
		err    bool
	}{
		{bucket.Range{0, -1}, 10, 0, 10, false},
		{bucket.Range{3, 4}, 10, 3, 7, false},
		{bucket.Range{8, 100}, 10, 8, 10, false},
		{bucket.Range{10, 1}, 10, 0, 0, true},
		{bucket.Range{-1, 1}, 10, 0, 0, true},
		{bucket.Range{0, -1}, 0, 0, 0, false},
	} {
		lo, hi, err := bucket.Clamp(tc.r, tc.size)
		if (err != nil) != tc.err || lo != tc.lo || hi != tc.hi {
			t.Errorf("Clamp(%+v, %d) = %d, %d, %v", tc.r, tc.size, lo, hi, err)
		}
	}
}
