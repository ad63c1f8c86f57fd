package sources

import (
	"fmt"
	"strings"
)

// template is an entry template compiled once per family, so expanding
// 100,000 entries never re-parses a string: rendering is concatenation of
// literals and variable values looked up by slot.
type template struct {
	segs []tseg
	lit  int // total literal bytes, to size the output
}

type tseg struct {
	lit  string
	slot int // index into the values slice; -1 for a literal
}

// compileTemplate parses src, where {name} is a variable and {{ and }} are
// literal braces. slots maps each variable the family's expansion defines to
// its index; names lists them in order for error messages.
func compileTemplate(src string, slots map[string]int, names []string) (template, error) {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			t.segs = append(t.segs, tseg{lit: s, slot: -1})
			t.lit += len(s)
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' && i+1 < len(src) && src[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return template{}, fmt.Errorf(`"}" at offset %d has no matching "{" (write "}}" for a literal brace)`, i)
		case c == '{':
			end := strings.IndexByte(src[i+1:], '}')
			if end < 0 {
				return template{}, fmt.Errorf(`unclosed "{" at offset %d (write "{{" for a literal brace)`, i)
			}
			name := src[i+1 : i+1+end]
			if !isVarName(name) {
				return template{}, fmt.Errorf(`invalid variable name {%s} at offset %d (want letters, digits and "_")`, name, i)
			}
			slot, ok := slots[name]
			if !ok {
				return template{}, &unknownVarError{name, names}
			}
			flush()
			t.segs = append(t.segs, tseg{slot: slot})
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// hasVars reports whether the template refers to any variable.
func (t template) hasVars() bool {
	for _, s := range t.segs {
		if s.slot >= 0 {
			return true
		}
	}
	return false
}

func (t template) render(vals []string) string {
	switch {
	case len(t.segs) == 0:
		return ""
	case len(t.segs) == 1 && t.segs[0].slot < 0:
		return t.segs[0].lit
	}
	n := t.lit
	for _, s := range t.segs {
		if s.slot >= 0 {
			n += len(vals[s.slot])
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range t.segs {
		if s.slot >= 0 {
			b.WriteString(vals[s.slot])
		} else {
			b.WriteString(s.lit)
		}
	}
	return b.String()
}

// isVarName accepts [A-Za-z_][A-Za-z0-9_]*.
func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unknownVarError is a template naming a variable the expansion lacks.
type unknownVarError struct {
	name    string
	defined []string
}

func (e *unknownVarError) Error() string {
	if len(e.defined) == 0 {
		return fmt.Sprintf("unknown template variable {%s} (this family has no expand, so it defines no variables)", e.name)
	}
	return fmt.Sprintf("unknown template variable {%s} (defined: %s)", e.name, strings.Join(e.defined, ", "))
}
