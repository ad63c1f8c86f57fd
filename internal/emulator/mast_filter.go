package emulator

import (
	"fmt"
	"strconv"
	"strings"
)

// filtered applies CAOM filters the way the Portal does: every filter must
// hold; discrete values match exactly (or any part split by separator),
// continuous values are {"min","max"} ranges, freeText is a LIKE pattern.
func (m *MAST) filtered(params map[string]any) ([]map[string]any, error) {
	fl, ok := params["filters"].([]any)
	if !ok {
		return nil, fmt.Errorf("Mast.Caom.Filtered needs params.filters")
	}
	known := map[string]bool{}
	for _, o := range m.obs {
		for k := range o {
			known[k] = true
		}
	}
	type filter struct {
		col, sep, free string
		values         []any
	}
	var fs []filter
	for _, f := range fl {
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("each filter must be an object")
		}
		col := mastScalar(fm["paramName"])
		if !known[col] {
			return nil, fmt.Errorf("Invalid column name '%s'.", col)
		}
		vals, _ := fm["values"].([]any)
		fs = append(fs, filter{col: col, sep: mastScalar(fm["separator"]), free: mastScalar(fm["freeText"]), values: vals})
	}
	var out []map[string]any
	for _, o := range m.obs {
		keep := true
		for _, f := range fs {
			if !mastMatch(o[f.col], f.values, f.sep, f.free) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, mastProject(o, mastScalar(params["columns"])))
		}
	}
	return out, nil
}

func mastMatch(v any, values []any, sep, free string) bool {
	got := mastScalar(v)
	parts := []string{got}
	if sep != "" {
		parts = strings.Split(got, sep)
	}
	if free != "" && mastLike(got, free) {
		return true
	}
	for _, want := range values {
		if rng, ok := want.(map[string]any); ok {
			x, err1 := strconv.ParseFloat(got, 64)
			lo, err2 := strconv.ParseFloat(mastScalar(rng["min"]), 64)
			hi, err3 := strconv.ParseFloat(mastScalar(rng["max"]), 64)
			if err1 == nil && err2 == nil && err3 == nil && x >= lo && x <= hi {
				return true
			}
			continue
		}
		for _, p := range parts {
			if p == mastScalar(want) {
				return true
			}
		}
	}
	return false
}

// mastLike matches an SQL LIKE pattern with % wildcards.
func mastLike(s, pat string) bool {
	segs := strings.Split(pat, "%")
	if !strings.HasPrefix(s, segs[0]) {
		return false
	}
	s = s[len(segs[0]):]
	for i, seg := range segs[1:] {
		if i == len(segs)-2 {
			return strings.HasSuffix(s, seg)
		}
		j := strings.Index(s, seg)
		if j < 0 {
			return false
		}
		s = s[j+len(seg):]
	}
	return s == ""
}

func mastProject(row map[string]any, columns string) map[string]any {
	if columns == "" || columns == "*" {
		return row
	}
	out := map[string]any{}
	for _, c := range strings.Split(columns, ",") {
		c = strings.TrimSpace(c)
		if v, ok := row[c]; ok {
			out[c] = v
		}
	}
	return out
}
