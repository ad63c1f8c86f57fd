package sources

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/astroingest/astroingest/internal/objkey"
	"gopkg.in/yaml.v3"
)

// expand decodes a family's expand list into x. It reports false when the
// expansion cannot be used, so no entries are made from it.
func (s *fileDecoder) expand(f *srcFile, fam node, x *expansion) bool {
	items, ok := s.seq(f, fam, "expand")
	if !ok {
		return false
	}
	sound := true
	for i, n := range items {
		path := fmt.Sprintf("%s[%d]", fam.field("expand"), i)
		m, ok := s.mapping(f, n, path, expandForms)
		if !ok {
			sound = false
			continue
		}
		if len(m.given()) != 1 {
			s.errs.add(f, m.n.Line, path, "want exactly one of %s", strings.Join(expandForms, ", "))
			sound = false
			continue
		}
		var it expandItem
		var good bool
		form := m.given()[0]
		it, good = s.expandItem(f, form, m.get(form), m.field(form))
		if !good {
			sound = false
			continue
		}
		if err := x.add(it); err != nil {
			s.errs.add(f, m.n.Line, path, "%v", err)
			sound = false
		}
	}
	return sound
}

func (s *fileDecoder) expandItem(f *srcFile, form string, n *yaml.Node, path string) (expandItem, bool) {
	switch form {
	case "dates":
		return s.dates(f, n, path)
	case "range":
		return s.rangeItem(f, n, path)
	case "list":
		return s.list(f, n, path)
	case "table":
		return s.table(f, n, path)
	}
	return expandItem{}, false // unreachable: mapping() admits only expandForms
}

// dates decodes {from, to, step}.
func (s *fileDecoder) dates(f *srcFile, n *yaml.Node, path string) (expandItem, bool) {
	m, ok := s.mapping(f, n, path, datesFields)
	if !ok {
		return expandItem{}, false
	}
	from, to, step := s.required(f, m, "from"), s.required(f, m, "to"), s.required(f, m, "step")
	if from == "" || to == "" || step == "" {
		return expandItem{}, false
	}
	it, err := expandDates(from, to, step)
	if err != nil {
		var de *dateError
		if errors.As(err, &de) && de.field != "" {
			s.errs.add(f, m.line(de.field), m.field(de.field), "%s", de.msg)
		} else {
			s.errs.add(f, m.n.Line, path, "%v", err)
		}
		return expandItem{}, false
	}
	return it, true
}

// rangeItem decodes {var, from, to, step, format}.
func (s *fileDecoder) rangeItem(f *srcFile, n *yaml.Node, path string) (expandItem, bool) {
	m, ok := s.mapping(f, n, path, rangeFields)
	if !ok {
		return expandItem{}, false
	}
	name := s.varName(f, m, "var")
	from, okFrom := s.int64(f, m, "from")
	to, okTo := s.int64(f, m, "to")
	for _, k := range []string{"from", "to"} {
		if m.get(k) == nil {
			s.errs.add(f, m.n.Line, m.field(k), "missing required field")
		}
	}
	step := int64(1)
	if v, ok := s.int64(f, m, "step"); ok {
		step = v
	} else if m.get("step") != nil {
		return expandItem{}, false
	}
	format := "%d"
	if m.get("format") != nil {
		format = s.required(f, m, "format")
	}
	if name == "" || !okFrom || !okTo || format == "" {
		return expandItem{}, false
	}
	it, err := expandRange(name, from, to, step, format)
	if err != nil {
		s.errs.add(f, m.n.Line, path, "%v", err)
		return expandItem{}, false
	}
	return it, true
}

// list decodes {var, values}.
func (s *fileDecoder) list(f *srcFile, n *yaml.Node, path string) (expandItem, bool) {
	m, ok := s.mapping(f, n, path, listFields)
	if !ok {
		return expandItem{}, false
	}
	name := s.varName(f, m, "var")
	items, ok := s.seq(f, m, "values")
	if !ok {
		return expandItem{}, false
	}
	if len(items) == 0 {
		s.errs.add(f, m.line("values"), m.field("values"), "yields nothing: the list is empty or missing")
		return expandItem{}, false
	}
	vals, ok := s.scalars(f, items, m.field("values"))
	if !ok || name == "" {
		return expandItem{}, false
	}
	return singleVar(name, vals), true
}

func (s *fileDecoder) varName(f *srcFile, m node, key string) string {
	v := s.required(f, m, key)
	if v != "" && !isVarName(v) {
		s.errs.add(f, m.line(key), m.field(key), "%q is not a variable name (want letters, digits and \"_\")", v)
		return ""
	}
	return v
}

// table decodes an inline table (columns and rows) or a TSV file.
func (s *fileDecoder) table(f *srcFile, n *yaml.Node, path string) (expandItem, bool) {
	m, ok := s.mapping(f, n, path, tableFields)
	if !ok {
		return expandItem{}, false
	}
	hasCols := m.get("columns") != nil
	hasRows := m.get("rows") != nil
	if file := s.str(f, m, "file"); m.get("file") != nil {
		if hasCols || hasRows {
			s.errs.add(f, m.n.Line, path, "give either file or columns and rows, not both")
			return expandItem{}, false
		}
		return s.tableFile(f, m, file)
	}
	if !hasCols || !hasRows {
		s.errs.add(f, m.n.Line, path, "want file, or columns and rows")
		return expandItem{}, false
	}
	return s.inlineTable(f, m)
}

// tableFile reads the TSV file the table names; errors in it are reported
// at the table's own lines.
func (s *fileDecoder) tableFile(f *srcFile, m node, file string) (expandItem, bool) {
	if file == "" {
		s.errs.add(f, m.line("file"), m.field("file"), "must not be empty")
		return expandItem{}, false
	}
	name, data, err := f.readTable(file)
	if err != nil {
		s.errs.add(f, m.line("file"), m.field("file"), "%v", err)
		return expandItem{}, false
	}
	it, lineErrs := expandTSV(data)
	tf := &srcFile{name: name, order: f.order}
	for _, le := range lineErrs {
		s.errs.add(tf, le.line, "table", "%s", le.msg)
	}
	switch {
	case len(lineErrs) > 0:
		return expandItem{}, false
	case it.vars == nil:
		s.errs.add(f, m.line("file"), m.field("file"), "table %s has no header row", name)
		return expandItem{}, false
	case it.n == 0:
		s.errs.add(f, m.line("file"), m.field("file"), "yields nothing: table %s has no rows", name)
		return expandItem{}, false
	}
	return it, true
}

// inlineTable decodes {columns, rows}: distinct variable names, and rows
// of one value per column.
func (s *fileDecoder) inlineTable(f *srcFile, m node) (expandItem, bool) {
	colNodes, ok1 := s.seq(f, m, "columns")
	rowNodes, ok2 := s.seq(f, m, "rows")
	if !ok1 || !ok2 {
		return expandItem{}, false
	}
	cols, ok := s.scalars(f, colNodes, m.field("columns"))
	if !ok {
		return expandItem{}, false
	}
	for i, c := range cols {
		if !isVarName(c) || slices.Index(cols, c) != i {
			s.errs.add(f, colNodes[i].Line, fmt.Sprintf("%s[%d]", m.field("columns"), i), "%q is not a distinct variable name (want letters, digits and \"_\")", c)
			ok = false
		}
	}
	if len(cols) == 0 {
		s.errs.add(f, m.line("columns"), m.field("columns"), "want at least one column")
		ok = false
	}
	if len(rowNodes) == 0 {
		s.errs.add(f, m.line("rows"), m.field("rows"), "yields nothing: no rows")
		ok = false
	}
	it := expandItem{vars: cols, cols: make([][]string, len(cols))}
	for r, rn := range rowNodes {
		rpath := fmt.Sprintf("%s[%d]", m.field("rows"), r)
		rn = resolve(rn)
		if rn.Kind != yaml.SequenceNode {
			s.errs.add(f, rn.Line, rpath, "want a list of %d values, got %s", len(cols), kindName(rn))
			ok = false
			continue
		}
		vals, good := s.scalars(f, rn.Content, rpath)
		if !good {
			ok = false
			continue
		}
		if len(vals) != len(cols) {
			s.errs.add(f, rn.Line, rpath, "has %d values, want %d (columns: %s)", len(vals), len(cols), strings.Join(cols, ", "))
			ok = false
			continue
		}
		for c, v := range vals {
			it.cols[c] = append(it.cols[c], v)
		}
		it.n++
	}
	return it, ok
}

// checkKey returns why an entry key is unusable, or "".
func checkKey(domain, key string) string {
	full := domain + "/" + key
	switch {
	case key == "":
		return "key is empty"
	case strings.HasPrefix(key, "/") || !strings.HasPrefix(path.Clean(full)+"/", domain+"/") || path.Clean(full) == domain:
		return fmt.Sprintf("key %q leaves the %s/ prefix", key, domain)
	}
	if err := objkey.Validate(full); err != nil {
		return err.Error()
	}
	return ""
}

// checkFetchURL returns why a URL cannot be fetched, or "". Plain http:// is
// refused unless the family allows it: every publisher in scope serves
// https, and a downgrade would let a network path alter what we mirror.
// Userinfo is refused first, and its message masks the password: source
// URLs are copied into manifests and run records, so a password in one
// would be published with the mirror.
func checkFetchURL(raw string, allowHTTP bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("URL %q does not parse: %v", raw, errors.Unwrap(err))
	case u.User != nil:
		return fmt.Sprintf("URL %q carries a user name or password; give the secret through hosts[].credential (read from an environment variable), never in a URL", u.Redacted())
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("URL %q must be https:// (got scheme %q)", raw, u.Scheme)
	case u.Host == "":
		return fmt.Sprintf("URL %q has no host", raw)
	case u.Scheme == "http" && !allowHTTP:
		return fmt.Sprintf("URL %q uses http://; use https://, or set allow_http: true and allow_http_reason on the family", raw)
	}
	return ""
}

const maxEntryIDLen = 200

// validEntryID admits [A-Za-z0-9][A-Za-z0-9._-]*: IDs name manifest objects
// (annotations/sources/<id>.json), so they must be one safe key segment.
func validEntryID(id string) bool {
	if id == "" || len(id) > maxEntryIDLen || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validFamilyID admits [a-z0-9][a-z0-9-]*.
func validFamilyID(id string) bool {
	if id == "" || !isLowerAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// validHost admits a lower-case DNS name or IPv4 address, with an optional
// ":port".
func validHost(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || (hasPort && (port == "" || strings.Trim(port, "0123456789") != "")) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLowerAlnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validEnvName admits [A-Z_][A-Z0-9_]*.
func validEnvName(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func validDOI(s string) bool {
	prefix, suffix, ok := strings.Cut(s, "/")
	return ok && suffix != "" && strings.HasPrefix(prefix, "10.") && len(prefix) > 3
}

func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || ('A' <= c && c <= 'Z') }

// crossCheck finds what no single family can see: duplicate entry IDs, and
// entries whose keys collide or nest. Keys are compared sorted, so the check
// is O(n log n) however large the registry.
func (s *loadState) crossCheck() {
	entries := s.reg.Entries
	for i, e := range entries {
		if first, dup := s.reg.byID[e.ID]; dup {
			p, q := s.fams[s.entFam[i]], s.fams[s.entFam[first]]
			s.errs.add(p.f, p.idLine, p.path+".entry.id", "duplicate entry ID %q (also made by family %q at %s:%d)", e.ID, entries[first].Family, q.f.name, q.idLine)
			continue
		}
		s.reg.byID[e.ID] = i
	}

	// With "/" appended, key a is a path prefix of key b exactly when a+"/"
	// is a string prefix of b+"/"; and in sorted order everything between a
	// string and one it prefixes shares that prefix, so scanning forward
	// while the prefix holds finds every nested pair.
	type keyed struct {
		k string
		i int
	}
	keys := make([]keyed, len(entries))
	for i, e := range entries {
		keys[i] = keyed{e.Domain + "/" + e.Key + "/", i}
	}
	slices.SortStableFunc(keys, func(a, b keyed) int { return strings.Compare(a.k, b.k) })
	for x := 0; x < len(keys); {
		// keys[x:end] are equal; report each against the first declared.
		end := x + 1
		for end < len(keys) && keys[end].k == keys[x].k {
			end++
		}
		a, pa := entries[keys[x].i], s.fams[s.entFam[keys[x].i]]
		for _, k := range keys[x+1 : end] {
			b, pb := entries[k.i], s.fams[s.entFam[k.i]]
			s.errs.add(pb.f, pb.keyLine, pb.path+".entry.key", "entry %q maps to key %q, as does entry %q (%s:%d)", b.ID, b.KeyPrefix(), a.ID, pa.f.name, pa.keyLine)
		}
		for _, k := range keys[end:] {
			if !strings.HasPrefix(k.k, keys[x].k) {
				break
			}
			b, pb := entries[k.i], s.fams[s.entFam[k.i]]
			s.errs.add(pb.f, pb.keyLine, pb.path+".entry.key", "key %q of entry %q lies under key %q of entry %q (%s:%d); one entry's key may not be a path prefix of another's", b.KeyPrefix(), b.ID, a.KeyPrefix(), a.ID, pa.f.name, pa.keyLine)
		}
		x = end
	}
}
