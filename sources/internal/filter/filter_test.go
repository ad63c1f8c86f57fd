package filter

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		include, exclude string
		name             string
		want             bool
	}{
		{"", "", "a/b/x.fits", true},
		{"*.fits", "", "a/b/x.fits", true}, // base name
		{"*.fits", "", "a/b/x.fits.gz", false},
		{"*.fits, *.gz", "", "a/x.gz", true},   // comma-separated, spaces trimmed
		{"a/*/x.fits", "", "a/b/x.fits", true}, // a "/" glob takes the whole name
		{"b/*.fits", "", "a/b/x.fits", false},
		{"", "*_tmp*", "a/x_tmp.fits", false},
		{"*.fits", "x*", "a/x.fits", false}, // exclude wins
		{"*.fits", "a/*", "b/a.fits", true},
	} {
		f, err := Parse(map[string]string{"include": tc.include, "exclude": tc.exclude})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Match(tc.name); got != tc.want {
			t.Errorf("include %q exclude %q: Match(%q) = %v, want %v", tc.include, tc.exclude, tc.name, got, tc.want)
		}
		if f.HasInclude() != (tc.include != "") {
			t.Errorf("include %q: HasInclude = %v", tc.include, f.HasInclude())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for want, params := range map[string]map[string]string{
		`params include: bad glob "[a": syntax error in pattern`:  {"include": "*.fits,[a"},
		`params exclude: bad glob "x\\": syntax error in pattern`: {"exclude": `x\`},
	} {
		if _, err := Parse(params); err == nil || err.Error() != want {
			t.Errorf("Parse(%v) = %v, want %q", params, err, want)
		}
	}
}
