package sources

import (
	"fmt"
	"slices"
	"strings"
)

// ValidationError is one problem in the registry, located in the file that
// declares it. Error() renders it as "FILE:LINE: FIELD: MSG", the form editors
// and CI logs turn into links.
type ValidationError struct {
	File  string
	Line  int
	Field string // path inside the document, e.g. "families[2].entry.url"
	Msg   string

	order int // load order of File, so errors print in the order files were given
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// ValidationErrors is every problem found in one load. The loader never stops
// at the first error, so a user fixes a registry in one pass.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders errors by file load order, then line, keeping the discovery
// order of errors on the same line.
func (es ValidationErrors) sort() {
	slices.SortStableFunc(es, func(a, b *ValidationError) int {
		if a.order != b.order {
			return a.order - b.order
		}
		return a.Line - b.Line
	})
}

// errList collects the errors of one load.
type errList struct {
	errs ValidationErrors
}

func (l *errList) add(f *srcFile, line int, field, format string, args ...any) {
	l.errs = append(l.errs, &ValidationError{File: f.name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), order: f.order})
}
