package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The registry is decoded by walking yaml.Node trees rather than with
// Decoder.KnownFields: KnownFields reports unknown fields as flat strings and
// stops typing the rest, while walking the nodes gives every problem its own
// FILE:LINE and lets one pass report them all.

var (
	topFields    = []string{"hosts", "families"}
	hostFields   = []string{"host", "concurrency", "rps", "burst", "gate", "gate_reason", "credential"}
	credFields   = []string{"env", "header", "query", "required", "rps"}
	familyFields = []string{"id", "domain", "title", "description", "provider", "license", "citation", "doi", "homepage",
		"kind", "schedule", "budget_bytes", "allow_http", "allow_http_reason", "content_types", "redirect_hosts", "expand", "entry"}
	entryFields = []string{"id", "key", "url", "checksums", "params"}
	expandForms = []string{"dates", "range", "list", "table"}
	datesFields = []string{"from", "to", "step"}
	rangeFields = []string{"var", "from", "to", "step", "format"}
	listFields  = []string{"var", "values"}
	tableFields = []string{"file", "columns", "rows"}
)

// fileDecoder decodes one registry file. It checks everything the file
// alone can show; what needs the whole registry (duplicate IDs, hosts and
// keys) is left to loadState. Files decode in parallel, one decoder each.
type fileDecoder struct {
	f     *srcFile
	kinds []string // the kind table's names, sorted
	// checkKinds is false for a Loader without a kind table.
	checkKinds bool
	domains    []string
	errs       errList
	hosts      []hostDecl
	fams       []*familySpec
}

// hostDecl is a host policy and where its host: field is.
type hostDecl struct {
	h     HostPolicy
	line  int
	field string
}

// node is a decoded mapping: its value nodes, parallel to the allowed keys
// (a slice, not a map: there are a few hundred thousand of these in a large
// registry), and the mapping itself for the line of "missing field" errors.
type node struct {
	n       *yaml.Node
	path    string
	allowed []string
	vals    []*yaml.Node
}

// get returns a field's value node, nil when absent.
func (m node) get(key string) *yaml.Node {
	if i := slices.Index(m.allowed, key); i >= 0 && m.vals != nil {
		return m.vals[i]
	}
	return nil
}

// given lists the keys present, in allowed order.
func (m node) given() []string {
	var out []string
	for i, v := range m.vals {
		if v != nil {
			out = append(out, m.allowed[i])
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// mapping checks that n is a mapping with only allowed keys, each once, and
// returns its values. "<<" merge keys are honoured; explicit keys win.
func (s *fileDecoder) mapping(f *srcFile, n *yaml.Node, path string, allowed []string) (node, bool) {
	n = resolve(n)
	m := node{n: n, path: path, allowed: allowed}
	if n.Kind != yaml.MappingNode {
		s.errs.add(f, n.Line, path, "want a mapping, got %s", kindName(n))
		return m, false
	}
	m.vals = make([]*yaml.Node, len(allowed))
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		idx := slices.Index(allowed, k.Value)
		switch {
		case k.Value == "<<" && k.Tag == "!!merge":
			merged = append(merged, resolve(v))
		case idx < 0:
			s.errs.add(f, k.Line, join(path, k.Value), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		case m.vals[idx] != nil:
			s.errs.add(f, k.Line, join(path, k.Value), "field given twice")
		default:
			m.vals[idx] = v
		}
	}
	for _, src := range merged {
		srcs := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			srcs = src.Content
		}
		for _, sm := range srcs {
			sm = resolve(sm)
			if sm.Kind != yaml.MappingNode {
				s.errs.add(f, sm.Line, join(path, "<<"), "merge wants a mapping, got %s", kindName(sm))
				continue
			}
			for i := 0; i+1 < len(sm.Content); i += 2 {
				k, v := sm.Content[i], sm.Content[i+1]
				idx := slices.Index(allowed, k.Value)
				switch {
				case idx < 0:
					s.errs.add(f, k.Line, join(path, k.Value), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
				case m.vals[idx] == nil:
					m.vals[idx] = v
				}
			}
		}
	}
	return m, true
}

// line is the line of a field's value, or of the mapping when it is absent.
func (m node) line(key string) int {
	if v := m.get(key); v != nil {
		return v.Line
	}
	return m.n.Line
}

func (m node) field(key string) string { return join(m.path, key) }

// str returns a scalar field as a string ("" when absent or null).
func (s *fileDecoder) str(f *srcFile, m node, key string) string {
	v := resolve(m.get(key))
	switch {
	case v == nil:
		return ""
	case v.Kind != yaml.ScalarNode:
		s.errs.add(f, v.Line, m.field(key), "want a string, got %s", kindName(v))
		return ""
	case v.Tag == "!!null":
		return ""
	}
	return v.Value
}

// required is str that reports an absent or empty field.
func (s *fileDecoder) required(f *srcFile, m node, key string) string {
	v := s.str(f, m, key)
	switch {
	case m.get(key) == nil:
		s.errs.add(f, m.line(key), m.field(key), "missing required field")
	case v == "" && resolve(m.get(key)).Kind == yaml.ScalarNode:
		s.errs.add(f, m.line(key), m.field(key), "must not be empty")
	}
	return v
}

func (s *fileDecoder) int64(f *srcFile, m node, key string) (int64, bool) {
	v := resolve(m.get(key))
	if v == nil {
		return 0, false
	}
	var x int64
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&x) != nil {
		s.errs.add(f, v.Line, m.field(key), "want an integer, got %s", kindName(v))
		return 0, false
	}
	return x, true
}

func (s *fileDecoder) float(f *srcFile, m node, key string) (float64, bool) {
	v := resolve(m.get(key))
	if v == nil {
		return 0, false
	}
	var x float64
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || v.Decode(&x) != nil {
		s.errs.add(f, v.Line, m.field(key), "want a number, got %s", kindName(v))
		return 0, false
	}
	return x, true
}

func (s *fileDecoder) bool(f *srcFile, m node, key string) bool {
	v := resolve(m.get(key))
	if v == nil {
		return false
	}
	var x bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&x) != nil {
		s.errs.add(f, v.Line, m.field(key), "want true or false, got %s", kindName(v))
		return false
	}
	return x
}

// seq returns a list field's items (nil when absent).
func (s *fileDecoder) seq(f *srcFile, m node, key string) ([]*yaml.Node, bool) {
	v := resolve(m.get(key))
	if v == nil {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		s.errs.add(f, v.Line, m.field(key), "want a list, got %s", kindName(v))
		return nil, false
	}
	return v.Content, true
}

// scalars returns a list of scalars as strings.
func (s *fileDecoder) scalars(f *srcFile, items []*yaml.Node, path string) ([]string, bool) {
	out := make([]string, 0, len(items))
	ok := true
	for i, it := range items {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode {
			s.errs.add(f, it.Line, fmt.Sprintf("%s[%d]", path, i), "want a value, got %s", kindName(it))
			ok = false
			continue
		}
		out = append(out, it.Value)
	}
	return out, ok
}

// file decodes one YAML document and adds its hosts, families and entries.
func (s *fileDecoder) file(data []byte) {
	f := s.f
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			s.syntaxError(f, err)
		}
		return // an empty file declares nothing
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			s.syntaxError(f, err)
			return
		}
		s.errs.add(f, line, "document", "a registry file holds one YAML document; split it into files")
		return
	}
	root, ok := s.mapping(f, doc.Content[0], "", topFields)
	if !ok {
		return
	}
	hosts, _ := s.seq(f, root, "hosts")
	for i, h := range hosts {
		s.host(f, h, fmt.Sprintf("hosts[%d]", i))
	}
	fams, _ := s.seq(f, root, "families")
	for i, fam := range fams {
		s.family(f, fam, fmt.Sprintf("families[%d]", i))
	}
}

// syntaxError turns a yaml.v3 parse error ("yaml: line 3: ...") into a
// ValidationError at that line.
func (s *fileDecoder) syntaxError(f *srcFile, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, tail
			}
		}
	}
	s.errs.add(f, line, "yaml", "%s", msg)
}

// mediaTypes reads a list of media types, "type/subtype" each.
func (s *fileDecoder) mediaTypes(f *srcFile, m node, key string) []string {
	items, ok := s.seq(f, m, key)
	if !ok || items == nil {
		return nil
	}
	vals, ok := s.scalars(f, items, m.field(key))
	if !ok {
		return nil
	}
	for i, v := range vals {
		t, sub, found := strings.Cut(v, "/")
		if !found || t == "" || sub == "" || strings.ContainsAny(v, " ;,") {
			s.errs.add(f, items[i].Line, fmt.Sprintf("%s[%d]", m.field(key), i), "%q is not a media type (want type/subtype, e.g. application/x-netcdf)", v)
		}
		vals[i] = strings.ToLower(v)
	}
	return vals
}

// hostNames reads a list of host names (no scheme, path or port).
func (s *fileDecoder) hostNames(f *srcFile, m node, key string) []string {
	items, ok := s.seq(f, m, key)
	if !ok || items == nil {
		return nil
	}
	vals, ok := s.scalars(f, items, m.field(key))
	if !ok {
		return nil
	}
	for i, v := range vals {
		if v == "" || strings.ContainsAny(v, "/: @") {
			s.errs.add(f, items[i].Line, fmt.Sprintf("%s[%d]", m.field(key), i), "%q is not a host name (want e.g. mast.stsci.edu, without scheme, port or path)", v)
		}
		vals[i] = strings.ToLower(v)
	}
	return vals
}
