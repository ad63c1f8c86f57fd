package refresh

import (
	"fmt"
	"strings"
	"testing"
)

func lines(s string) []string { return strings.Split(s, " ") }

func TestUnified(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{"equal", "a b c", "a b c", ""},
		{"one added at the end", "h 1 2 3 4 5", "h 1 2 3 4 5 6", "@@ -4,3 +4,4 @@\n 3\n 4\n 5\n+6\n"},
		{"one removed at the start", "h 1 2 3 4 5", "1 2 3 4 5", "@@ -1,4 +1,3 @@\n-h\n 1\n 2\n 3\n"},
		{"changed line", "h 1 2 3", "h 1 X 3", "@@ -1,4 +1,4 @@\n h\n 1\n-2\n+X\n 3\n"},
		{"two hunks far apart", "a 1 2 3 4 5 6 7 8 9 b", "A 1 2 3 4 5 6 7 8 9 B",
			"@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -8,4 +8,4 @@\n 7\n 8\n 9\n-b\n+B\n"},
		{"near changes share a hunk", "a 1 2 3 4 5 6 b", "A 1 2 3 4 5 6 B",
			"@@ -1,8 +1,8 @@\n-a\n+A\n 1\n 2\n 3\n 4\n 5\n 6\n-b\n+B\n"},
		{"into an empty file", "", "x y", "@@ -1 +1,2 @@\n-\n+x\n+y\n"},
		{"a moved line", "h a b c", "h b c a", "@@ -1,4 +1,4 @@\n h\n-a\n b\n c\n+a\n"},
		{"inserted in the middle", "1 2 3 4 5 6 7 8", "1 2 3 4 X 5 6 7 8", "@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+X\n 5\n 6\n 7\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Unified("a/t.tsv", "b/t.tsv", lines(tc.a), lines(tc.b))
			want := tc.want
			if want != "" {
				want = "--- a/t.tsv\n+++ b/t.tsv\n" + want
			}
			if got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
			if got != "" {
				if back := apply(t, lines(tc.a), got); strings.Join(back, " ") != tc.b {
					t.Fatalf("applying the diff gives %q, want %q", back, tc.b)
				}
			}
		})
	}
}

// A large table with scattered changes diffs to a patch that applies.
func TestUnifiedLarge(t *testing.T) {
	var a, b []string
	for i := range 20000 {
		l := fmt.Sprintf("org%05d", i)
		if i%997 != 0 {
			a = append(a, l)
		}
		if i%1201 != 0 {
			b = append(b, l)
		}
	}
	d := Unified("a", "b", a, b)
	if back := apply(t, a, d); strings.Join(back, "\n") != strings.Join(b, "\n") {
		t.Fatal("the patch does not give b")
	}
	// 20 multiples of 997 are added, 16 multiples of 1201 removed (0 is
	// in neither).
	if n := strings.Count(d, "\n+org") + strings.Count(d, "\n-org"); n != 20+16 {
		t.Fatalf("%d changed lines, want 36", n)
	}
}

// An empty side has the range 0,0, as diff -u writes it.
func TestUnifiedEmptySide(t *testing.T) {
	if got, want := Unified("a", "b", nil, []string{"x"}), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n"; got != want {
		t.Errorf("from nothing: %q, want %q", got, want)
	}
	if got, want := Unified("a", "b", []string{"x", "y"}, nil), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n"; got != want {
		t.Errorf("to nothing: %q, want %q", got, want)
	}
}

// apply is a minimal patch(1) for the hunks Unified writes.
func apply(t *testing.T, a []string, diff string) []string {
	t.Helper()
	var out []string
	pos := 0 // next line of a to copy
	ls := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")[2:]
	for _, l := range ls {
		if strings.HasPrefix(l, "@@") {
			var start int
			fmt.Sscanf(l, "@@ -%d", &start)
			if strings.HasPrefix(l, fmt.Sprintf("@@ -%d,0 ", start)) {
				start++ // an empty range names the line before
			}
			for pos < start-1 {
				out = append(out, a[pos])
				pos++
			}
			continue
		}
		switch l[0] {
		case ' ':
			if a[pos] != l[1:] {
				t.Fatalf("context %q, file has %q", l[1:], a[pos])
			}
			out = append(out, a[pos])
			pos++
		case '-':
			if a[pos] != l[1:] {
				t.Fatalf("removes %q, file has %q", l[1:], a[pos])
			}
			pos++
		case '+':
			out = append(out, l[1:])
		}
	}
	return append(out, a[pos:]...)
}
