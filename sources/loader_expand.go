package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxFamilyEntries bounds one family's expansion, so a typo such as
// "to: 100000000" fails validation instead of exhausting memory.
const maxFamilyEntries = 1_000_000

// expandItem is one item of a family's expand list: a set of variables and
// their rows, stored column by column so a 100,000-row table costs one slice
// per variable rather than one per row.
type expandItem struct {
	vars []string
	cols [][]string // cols[v][row]
	n    int
}

func singleVar(name string, values []string) expandItem {
	return expandItem{vars: []string{name}, cols: [][]string{values}, n: len(values)}
}

// expansion is the cartesian product of a family's expand items, the first
// item varying slowest.
type expansion struct {
	items []expandItem
	names []string // every variable, in slot order
	slots map[string]int
}

// add appends an item, refusing a variable another item already defines.
func (x *expansion) add(it expandItem) error {
	if x.slots == nil {
		x.slots = map[string]int{}
	}
	for _, v := range it.vars {
		if _, dup := x.slots[v]; dup {
			return fmt.Errorf("variable {%s} is defined twice", v)
		}
	}
	for _, v := range it.vars {
		x.slots[v] = len(x.names)
		x.names = append(x.names, v)
	}
	x.items = append(x.items, it)
	return nil
}

// count is the number of combinations, or an error past maxFamilyEntries.
func (x *expansion) count() (int, error) {
	n := 1
	for _, it := range x.items {
		if it.n == 0 {
			return 0, nil
		}
		if n > maxFamilyEntries/it.n {
			return 0, fmt.Errorf("expands to more than %d entries; split the family", maxFamilyEntries)
		}
		n *= it.n
	}
	return n, nil
}

// each calls fn once per combination with the values in slot order. The
// slice is reused between calls.
func (x *expansion) each(fn func(vals []string)) {
	vals := make([]string, len(x.names))
	var rec func(i, slot int)
	rec = func(i, slot int) {
		if i == len(x.items) {
			fn(vals)
			return
		}
		it := x.items[i]
		for r := 0; r < it.n; r++ {
			for v := range it.vars {
				vals[slot+v] = it.cols[v][r]
			}
			rec(i+1, slot+len(it.vars))
		}
	}
	rec(0, 0)
}

// dateLayout gives, per step, the layout of from/to and the variables set.
func dateLayout(step string) (layout, shape string, vars []string, ok bool) {
	switch step {
	case "year":
		return "2006", "YYYY", []string{"yyyy"}, true
	case "month":
		return "2006-01", "YYYY-MM", []string{"yyyy", "mm"}, true
	case "day":
		return "2006-01-02", "YYYY-MM-DD", []string{"yyyy", "mm", "dd"}, true
	}
	return "", "", nil, false
}

// dateError says which bound is wrong; field is "from", "to" or "step".
type dateError struct {
	field string
	msg   string
}

func (e *dateError) Error() string { return e.msg }

// expandDates steps from..to inclusive by one year, month or day.
func expandDates(from, to, step string) (expandItem, error) {
	layout, shape, vars, ok := dateLayout(step)
	if !ok {
		return expandItem{}, &dateError{"step", fmt.Sprintf("unknown step %q (want year, month or day)", step)}
	}
	parse := func(field, s string) (time.Time, error) {
		t, err := time.Parse(layout, s)
		if err != nil {
			return t, &dateError{field, fmt.Sprintf("%q is not a %s date (want %s)", s, step, shape)}
		}
		return t, nil
	}
	t0, err := parse("from", from)
	if err != nil {
		return expandItem{}, err
	}
	t1, err := parse("to", to)
	if err != nil {
		return expandItem{}, err
	}
	if t0.After(t1) {
		return expandItem{}, &dateError{"", fmt.Sprintf("yields nothing: from %q is after to %q", from, to)}
	}
	it := expandItem{vars: vars, cols: make([][]string, len(vars))}
	for t := t0; !t.After(t1); {
		y, m, d := t.Date()
		it.cols[0] = append(it.cols[0], pad(y, 4))
		if len(vars) > 1 {
			it.cols[1] = append(it.cols[1], pad(int(m), 2))
		}
		if len(vars) > 2 {
			it.cols[2] = append(it.cols[2], pad(d, 2))
		}
		it.n++
		if it.n > maxFamilyEntries {
			return expandItem{}, &dateError{"", fmt.Sprintf("yields more than %d dates", maxFamilyEntries)}
		}
		switch step {
		case "year":
			t = t.AddDate(1, 0, 0)
		case "month":
			t = t.AddDate(0, 1, 0)
		default:
			t = t.AddDate(0, 0, 1)
		}
	}
	return it, nil
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// expandRange yields from, from+step, ... up to and including to, each
// formatted with format (a single integer verb such as "%03d").
func expandRange(name string, from, to, step int64, format string) (expandItem, error) {
	switch {
	case step <= 0:
		return expandItem{}, fmt.Errorf("step %d must be at least 1", step)
	case from > to:
		return expandItem{}, fmt.Errorf("yields nothing: from %d > to %d", from, to)
	case (to-from)/step >= maxFamilyEntries:
		return expandItem{}, fmt.Errorf("yields more than %d values", maxFamilyEntries)
	}
	if s := fmt.Sprintf(format, from); strings.Contains(s, "%!") {
		return expandItem{}, fmt.Errorf("format %q must hold exactly one integer verb, such as %%d or %%03d", format)
	}
	vals := make([]string, 0, (to-from)/step+1)
	for v := from; v <= to; v += step {
		if format == "%d" {
			vals = append(vals, strconv.FormatInt(v, 10))
		} else {
			vals = append(vals, fmt.Sprintf(format, v))
		}
		if v > to-step { // stepping further would overflow int64 near its limit
			break
		}
	}
	return singleVar(name, vals), nil
}

// lineError is a problem on one line of a table file.
type lineError struct {
	line int
	msg  string
}

// expandTSV reads a tab-separated table whose first line names the columns;
// each column becomes a variable. Blank lines and lines starting with '#'
// are skipped, so tables can carry provenance notes.
func expandTSV(data []byte) (expandItem, []lineError) {
	var it expandItem
	var errs []lineError
	line := 0
	for len(data) > 0 {
		var row []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			row, data = data[:i], data[i+1:]
		} else {
			row, data = data, nil
		}
		line++
		if n := len(row); n > 0 && row[n-1] == '\r' {
			row = row[:n-1]
		}
		if len(row) == 0 || row[0] == '#' {
			continue
		}
		fields := strings.Split(string(row), "\t")
		if it.vars == nil {
			seen := map[string]bool{}
			for _, name := range fields {
				switch {
				case !isVarName(name):
					errs = append(errs, lineError{line, fmt.Sprintf("column name %q is not a variable name (want letters, digits and \"_\")", name)})
				case seen[name]:
					errs = append(errs, lineError{line, fmt.Sprintf("column %q appears twice", name)})
				}
				seen[name] = true
			}
			it.vars = fields
			it.cols = make([][]string, len(fields))
			continue
		}
		if len(fields) != len(it.vars) {
			errs = append(errs, lineError{line, fmt.Sprintf("row has %d fields, the header has %d", len(fields), len(it.vars))})
			continue
		}
		for c, v := range fields {
			it.cols[c] = append(it.cols[c], v)
		}
		it.n++
	}
	return it, errs
}
