package refresh

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// File is a table file as the registry holds it (sources/SCHEMA.md, the
// table expansion): the lines before the header (comments that say where
// the rows come from, blank lines), kept as they are; the header's
// columns; and the rows, one value per column, tab-separated.
type File struct {
	Preamble []string
	Columns  []string
	Rows     [][]string
}

// ParseFile reads a table file. Comments and blank lines after the header,
// which the loader skips, are refused: a rewrite could not keep them in
// place, so they belong above the header.
func ParseFile(data []byte) (File, error) {
	var f File
	text := strings.TrimSuffix(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		switch {
		case f.Columns == nil && (strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#")):
			f.Preamble = append(f.Preamble, line)
		case f.Columns == nil:
			f.Columns = strings.Split(line, "\t")
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			return File{}, fmt.Errorf("line %d: a comment or blank line among the rows; a refresh rewrites the rows, so move it above the header", n)
		default:
			row := strings.Split(line, "\t")
			if len(row) != len(f.Columns) {
				return File{}, fmt.Errorf("line %d: %d values, want %d (columns: %s)", n, len(row), len(f.Columns), strings.Join(f.Columns, ", "))
			}
			f.Rows = append(f.Rows, row)
		}
	}
	if f.Columns == nil {
		return File{}, fmt.Errorf("no header line")
	}
	return f, nil
}

// Bytes is the file's text: the preamble, the header and the rows, each
// line ending in "\n".
func (f File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.Lines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Lines are the file's lines, without their line ends.
func (f File) Lines() []string {
	out := append([]string(nil), f.Preamble...)
	out = append(out, strings.Join(f.Columns, "\t"))
	for _, r := range f.Rows {
		out = append(out, strings.Join(r, "\t"))
	}
	return out
}

// Change counts what a merge did to the rows.
type Change struct {
	Added   int // rows the publisher lists that the table lacked
	Changed int // rows whose key stayed and whose other values changed
	// Gone are rows the publisher no longer lists: kept in the table
	// unless the merge pruned them.
	Gone   [][]string
	Pruned bool
}

// Merge folds what a refresher read into the file the registry holds. The
// result has the file's preamble and columns and the refresher's rows in
// its order. A row the publisher no longer lists is never dropped
// silently: it stays unless prune is set, placed by the table's Less
// (after the row it followed in the file, which settles ties), and
// Change.Gone names it either way.
func Merge(old File, t Table, prune bool) (File, Change, error) {
	if !slices.Equal(old.Columns, t.Columns) {
		return File{}, Change{}, fmt.Errorf("the table's columns are %s, the index gives %s", strings.Join(old.Columns, ", "), strings.Join(t.Columns, ", "))
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Columns) {
			return File{}, Change{}, fmt.Errorf("the index's row %d has %d values, want %d", i+1, len(r), len(t.Columns))
		}
	}
	key, err := keyFunc(t.Columns, t.Key)
	if err != nil {
		return File{}, Change{}, err
	}
	oldBy, err := byKey(old.Rows, key, "the table")
	if err != nil {
		return File{}, Change{}, err
	}
	newBy, err := byKey(t.Rows, key, "the index")
	if err != nil {
		return File{}, Change{}, err
	}
	ch := Change{Pruned: prune}
	for k, r := range newBy {
		switch o, ok := oldBy[k]; {
		case !ok:
			ch.Added++
		case !slices.Equal(o, r):
			ch.Changed++
		}
	}
	// Rows that are gone hang after the last row before them that stays;
	// those before any such row go first.
	after := map[string][][]string{}
	anchor := ""
	for _, r := range old.Rows {
		k := key(r)
		if _, ok := newBy[k]; ok {
			anchor = k
			continue
		}
		ch.Gone = append(ch.Gone, r)
		if !prune {
			after[anchor] = append(after[anchor], r)
		}
	}
	out := File{Preamble: old.Preamble, Columns: old.Columns}
	out.Rows = append(out.Rows, after[""]...)
	for _, r := range t.Rows {
		out.Rows = append(out.Rows, r)
		out.Rows = append(out.Rows, after[key(r)]...)
	}
	if t.Less != nil && len(ch.Gone) > 0 && !prune {
		sort.SliceStable(out.Rows, func(i, j int) bool { return t.Less(out.Rows[i], out.Rows[j]) })
	}
	return out, ch, nil
}

// keyFunc returns the function that joins a row's key values.
func keyFunc(columns, key []string) (func([]string) string, error) {
	var idx []int
	for _, k := range key {
		i := slices.Index(columns, k)
		if i < 0 {
			return nil, fmt.Errorf("key column %q is not a column (%s)", k, strings.Join(columns, ", "))
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("no key columns")
	}
	return func(r []string) string {
		parts := make([]string, len(idx))
		for j, i := range idx {
			parts[j] = r[i]
		}
		return strings.Join(parts, "\t")
	}, nil
}

func byKey(rows [][]string, key func([]string) string, what string) (map[string][]string, error) {
	m := make(map[string][]string, len(rows))
	for _, r := range rows {
		k := key(r)
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s has two rows for %s", what, strings.ReplaceAll(k, "\t", " "))
		}
		m[k] = r
	}
	return m, nil
}
