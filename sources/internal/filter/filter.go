// Package filter is the include / exclude filter of the kinds that list
// files (index and manifest): params include and exclude hold
// comma-separated globs (path.Match syntax) on a file's base name, or on its
// whole relative name when the glob holds a "/" (sources/SCHEMA.md).
package filter

import (
	"fmt"
	"path"
	"strings"
)

// Filter is a parsed include / exclude pair. The zero value passes every
// name. It is read-only after Parse and safe for concurrent use.
type Filter struct {
	include, exclude []string
}

// Parse reads params include and exclude. A malformed glob is an error
// naming the param and the glob.
func Parse(params map[string]string) (Filter, error) {
	var f Filter
	var err error
	if f.include, err = globs(params, "include"); err != nil {
		return Filter{}, err
	}
	if f.exclude, err = globs(params, "exclude"); err != nil {
		return Filter{}, err
	}
	return f, nil
}

func globs(params map[string]string, name string) ([]string, error) {
	var out []string
	for _, g := range strings.Split(params[name], ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("params %s: bad glob %q: %w", name, g, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// HasInclude reports whether any include glob is given.
func (f Filter) HasInclude() bool { return len(f.include) > 0 }

// Match reports whether a file of the given relative name passes: it
// matches an include glob (or none is given) and no exclude glob.
func (f Filter) Match(name string) bool {
	if len(f.include) > 0 && !anyMatch(f.include, name) {
		return false
	}
	return !anyMatch(f.exclude, name)
}

func anyMatch(globs []string, name string) bool {
	for _, g := range globs {
		subject := path.Base(name)
		if strings.Contains(g, "/") {
			subject = name
		}
		if ok, _ := path.Match(g, subject); ok {
			return true
		}
	}
	return false
}
