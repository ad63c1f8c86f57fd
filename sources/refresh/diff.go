package refresh

import (
	"fmt"
	"sort"
	"strings"
)

// Unified is the unified diff (as diff -u and git write it, three lines of
// context) that turns lines a into lines b, headed "--- nameA" and
// "+++ nameB"; "" when they are equal. A table's rows are distinct lines
// (their keys are), so the longest common subsequence is the longest
// increasing run of the common lines' positions, found in O(n log n): a
// table of 10,000 rows diffs in milliseconds whatever changed.
func Unified(nameA, nameB string, a, b []string) string {
	ops := editScript(a, b)
	var out strings.Builder
	for _, h := range hunks(ops, 3) {
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
		}
		writeHunk(&out, ops[h[0]:h[1]])
	}
	return out.String()
}

// op is one line of an edit script: ' ' kept, '-' removed, '+' added, with
// its 1-based line number in a (kept and removed) and in b (kept and
// added); the number is the line it follows when the line is not there.
type op struct {
	kind   byte
	text   string
	ai, bi int
}

func editScript(a, b []string) []op {
	matches := commonLines(a, b)
	var ops []op
	i, j := 0, 0
	emit := func(ti, tj int) {
		for ; i < ti; i++ {
			ops = append(ops, op{'-', a[i], i + 1, j})
		}
		for ; j < tj; j++ {
			ops = append(ops, op{'+', b[j], i, j + 1})
		}
	}
	for _, m := range matches {
		emit(m[0], m[1])
		ops = append(ops, op{' ', a[i], i + 1, j + 1})
		i, j = i+1, j+1
	}
	emit(len(a), len(b))
	return ops
}

// commonLines pairs equal lines of a and b, in order, as many as can be:
// a line repeated k times in both is matched occurrence by occurrence.
func commonLines(a, b []string) [][2]int {
	token := func(lines []string) []string {
		seen := map[string]int{}
		out := make([]string, len(lines))
		for i, l := range lines {
			out[i] = fmt.Sprintf("%d\x00%s", seen[l], l)
			seen[l]++
		}
		return out
	}
	ta, tb := token(a), token(b)
	posB := make(map[string]int, len(tb))
	for j, t := range tb {
		posB[t] = j
	}
	var pairs [][2]int
	for i, t := range ta {
		if j, ok := posB[t]; ok {
			pairs = append(pairs, [2]int{i, j})
		}
	}
	// Longest increasing subsequence of the pairs' b positions (patience
	// sorting): tails[k] is the pair ending the best run of length k+1.
	var tails []int
	prev := make([]int, len(pairs))
	for p := range pairs {
		k := sort.Search(len(tails), func(k int) bool { return pairs[tails[k]][1] >= pairs[p][1] })
		prev[p] = -1
		if k > 0 {
			prev[p] = tails[k-1]
		}
		if k == len(tails) {
			tails = append(tails, p)
		} else {
			tails[k] = p
		}
	}
	run := make([][2]int, len(tails))
	for k, p := len(tails)-1, -1; k >= 0; k-- {
		if p == -1 {
			p = tails[k]
		} else {
			p = prev[p]
		}
		run[k] = pairs[p]
	}
	return run
}

// hunks groups the changed ops with up to ctx kept lines around them;
// each is a [start, end) range of ops.
func hunks(ops []op, ctx int) [][2]int {
	var out [][2]int
	for i := 0; i < len(ops); i++ {
		if ops[i].kind == ' ' {
			continue
		}
		start := max(0, i-ctx)
		end := i + 1
		for k := i + 1; k < len(ops); k++ {
			if ops[k].kind != ' ' {
				end = k + 1
				continue
			}
			if k-end >= 2*ctx {
				break
			}
		}
		end = min(len(ops), end+ctx)
		if n := len(out); n > 0 && start <= out[n-1][1] {
			out[n-1][1] = end
		} else {
			out = append(out, [2]int{start, end})
		}
		i = end - 1
	}
	return out
}

func writeHunk(w *strings.Builder, ops []op) {
	var na, nb int
	for _, o := range ops {
		if o.kind != '+' {
			na++
		}
		if o.kind != '-' {
			nb++
		}
	}
	first := ops[0]
	fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(first.ai, na, first.kind == '+'), hunkRange(first.bi, nb, first.kind == '-'))
	for _, o := range ops {
		w.WriteByte(o.kind)
		w.WriteString(o.text)
		w.WriteByte('\n')
	}
}

// hunkRange is "start,count" as diff -u writes it: the count is left out
// when it is 1, and an empty range starts at the line before it. absent
// says the first op's line number for this side is the line it follows.
func hunkRange(first, count int, absent bool) string {
	start := first
	if absent && count > 0 {
		start++
	}
	if count == 0 {
		start = first
	}
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}
