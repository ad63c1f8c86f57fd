package emulator

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// TAPOptions configure the TAP emulator.
type TAPOptions struct {
	// Prefix is where the handler is mounted; the TAP base (the entry URL)
	// is server URL + Prefix.
	Prefix string
	// ErrorStatus is the HTTP status of error documents: 400 (the default,
	// as TAPLib services such as ESO answer) or 200 (as some services do).
	ErrorStatus int
	// FileBase replaces "{files}" in table values. When empty it is the
	// emulator's own Prefix + "/files", where AddFile's files are served.
	FileBase string
}

// TAP emulates the synchronous endpoint of an IVOA TAP service: {base}/sync
// with REQUEST=doQuery, LANG=ADQL, FORMAT=csv|votable, MAXREC and QUERY, for a
// small ADQL subset:
//
//	SELECT [TOP n] * | col, ... FROM table
//	  [WHERE col op literal [AND ...]] [ORDER BY col [ASC|DESC]]
//
// with op one of = != <> < > <= >= LIKE. Anything else is answered with the
// DALI error VOTable (INFO name="QUERY_STATUS" value="ERROR"), as a real
// service answers an ADQL syntax error. It is an http.Handler; all methods
// are safe for concurrent use.
type TAP struct {
	opts TAPOptions

	mu      sync.Mutex
	tables  map[string]*tapTable // lower-case name
	files   map[string][]byte
	queries []string
}

type tapTable struct {
	name string
	cols []string
	rows [][]string
}

// NewTAP returns a TAP emulator without tables.
func NewTAP(opts TAPOptions) *TAP {
	if opts.ErrorStatus == 0 {
		opts.ErrorStatus = http.StatusBadRequest
	}
	return &TAP{opts: opts, tables: map[string]*tapTable{}, files: map[string][]byte{}}
}

// AddTable adds or replaces a table. Values may contain "{files}", which is
// replaced by the file base when rows are served.
func (t *TAP) AddTable(name string, cols []string, rows [][]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tables[strings.ToLower(name)] = &tapTable{name: name, cols: cols, rows: rows}
}

// LoadTAPTable adds a table from a CSV file with a header row.
func (t *TAP) LoadTAPTable(name, csvPath string) error {
	b, err := os.ReadFile(csvPath)
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return fmt.Errorf("%s: %w", csvPath, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s: no header row", csvPath)
	}
	t.AddTable(name, recs[0], recs[1:])
	return nil
}

// AddFile serves data at Prefix + "/files/" + path.
func (t *TAP) AddFile(path string, data []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files[strings.TrimPrefix(path, "/")] = data
}

// Queries is every QUERY received, in order.
func (t *TAP) Queries() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.queries...)
}

func (t *TAP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, t.opts.Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case p == "/sync":
		t.sync(w, r)
	case strings.HasPrefix(p, "/files/"):
		t.mu.Lock()
		data, ok := t.files[strings.TrimPrefix(p, "/files/")]
		t.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, p, mastModTime, bytes.NewReader(data))
	default:
		http.NotFound(w, r)
	}
}

func (t *TAP) sync(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		t.fail(w, "cannot read the parameters: "+err.Error())
		return
	}
	// TAP parameter names are case-insensitive; values are not.
	param := map[string]string{}
	for k, v := range r.Form {
		if len(v) > 0 {
			param[strings.ToUpper(k)] = v[0]
		}
	}
	if param["QUERY"] != "" {
		t.mu.Lock()
		t.queries = append(t.queries, param["QUERY"])
		t.mu.Unlock()
	}
	if req, ok := param["REQUEST"]; ok && req != "doQuery" {
		t.fail(w, fmt.Sprintf("Unknown REQUEST %q; only doQuery is supported", req))
		return
	}
	if lang := param["LANG"]; !strings.HasPrefix(strings.ToUpper(lang), "ADQL") {
		t.fail(w, fmt.Sprintf("Unsupported LANG %q; only ADQL is supported", lang))
		return
	}
	format := strings.ToLower(param["FORMAT"])
	switch format {
	case "csv", "text/csv":
		format = "csv"
	case "", "votable", "application/x-votable+xml", "text/xml":
		format = "votable"
	default:
		t.fail(w, fmt.Sprintf("Unsupported FORMAT %q", param["FORMAT"]))
		return
	}
	if strings.TrimSpace(param["QUERY"]) == "" {
		t.fail(w, "Missing QUERY parameter")
		return
	}
	q, err := tapParse(param["QUERY"])
	if err != nil {
		t.fail(w, "Incorrect ADQL query: "+err.Error())
		return
	}
	t.mu.Lock()
	cols, rows, err := t.run(q)
	t.mu.Unlock()
	if err != nil {
		t.fail(w, err.Error())
		return
	}
	overflow := false
	if s, ok := param["MAXREC"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.fail(w, fmt.Sprintf("Invalid MAXREC %q", s))
			return
		}
		if len(rows) > n {
			rows, overflow = rows[:n], true
		}
	}
	files := t.opts.FileBase
	if files == "" {
		files = emuBase(r, t.opts.Prefix) + "/files"
	}
	for _, row := range rows {
		for i := range row {
			row[i] = strings.ReplaceAll(row[i], "{files}", files)
		}
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv;header=present")
		cw := csv.NewWriter(w)
		_ = cw.Write(cols)
		_ = cw.WriteAll(rows)
		return
	}
	w.Header().Set("Content-Type", "application/x-votable+xml")
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">` + "\n")
	b.WriteString(`<RESOURCE type="results">` + "\n")
	b.WriteString(`<INFO name="QUERY_STATUS" value="OK"/>` + "\n<TABLE>\n")
	for _, c := range cols {
		fmt.Fprintf(&b, `<FIELD name="%s" datatype="char" arraysize="*"/>`+"\n", tapEscape(c))
	}
	b.WriteString("<DATA><TABLEDATA>\n")
	for _, row := range rows {
		b.WriteString("<TR>")
		for _, v := range row {
			fmt.Fprintf(&b, "<TD>%s</TD>", tapEscape(v))
		}
		b.WriteString("</TR>\n")
	}
	b.WriteString("</TABLEDATA></DATA>\n</TABLE>\n")
	if overflow {
		b.WriteString(`<INFO name="QUERY_STATUS" value="OVERFLOW"/>` + "\n")
	}
	b.WriteString("</RESOURCE>\n</VOTABLE>\n")
	_, _ = w.Write(b.Bytes())
}

// fail answers the DALI error document.
func (t *TAP) fail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/x-votable+xml")
	w.WriteHeader(t.opts.ErrorStatus)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="ERROR">%s</INFO>
</RESOURCE>
</VOTABLE>
`, tapEscape(msg))
}

func tapEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// tapQuery is a parsed query of the supported subset.
type tapQuery struct {
	top     int // -1 for none
	cols    []string
	table   string
	conds   []tapCond
	orderBy string
	desc    bool
}

type tapCond struct {
	col, op string
	val     string
	num     bool
}

// tapLex splits ADQL into tokens: words, quoted strings (kept with their
// quotes), numbers and operators.
func tapLex(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'':
			j := i + 1
			var sb strings.Builder
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string starting at column %d", i+1)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						sb.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(s[j])
				j++
			}
			toks = append(toks, "'"+sb.String())
			i = j + 1
		case strings.ContainsRune("<>!=", c):
			j := i + 1
			if j < len(s) && strings.ContainsRune("=>", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case c == ',' || c == '*' || c == '(' || c == ')' || c == ';':
			toks = append(toks, string(c))
			i++
		case unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '.' || c == '-' || c == '+' || c == '"':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || strings.ContainsRune("_.-+\"", rune(s[j]))) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q at column %d", c, i+1)
		}
	}
	return toks, nil
}

func tapParse(q string) (*tapQuery, error) {
	toks, err := tapLex(q)
	if err != nil {
		return nil, err
	}
	if n := len(toks); n > 0 && toks[n-1] == ";" {
		toks = toks[:n-1]
	}
	pos := 0
	peek := func() string {
		if pos < len(toks) {
			return toks[pos]
		}
		return ""
	}
	next := func() string { s := peek(); pos++; return s }
	is := func(kw string) bool { return strings.EqualFold(peek(), kw) }
	unexpected := func(want string) error {
		got := peek()
		if got == "" {
			return fmt.Errorf("Encountered end of query. Was expecting: %s", want)
		}
		return fmt.Errorf("Encountered %q. Was expecting: %s", got, want)
	}
	out := &tapQuery{top: -1}
	if !is("SELECT") {
		return nil, unexpected(`"SELECT"`)
	}
	next()
	if is("TOP") {
		next()
		n, err := strconv.Atoi(peek())
		if err != nil || n < 0 {
			return nil, unexpected("<UNSIGNED_INTEGER>")
		}
		next()
		out.top = n
	}
	for {
		c := peek()
		if c == "" || tapKeyword(c) || c == "," {
			return nil, unexpected(`"*" or <column name>`)
		}
		out.cols = append(out.cols, next())
		if peek() != "," {
			break
		}
		next()
	}
	if !is("FROM") {
		return nil, unexpected(`"FROM" or ","`)
	}
	next()
	if peek() == "" || tapKeyword(peek()) {
		return nil, unexpected("<table name>")
	}
	out.table = next()
	if is("WHERE") {
		next()
		for {
			col := next()
			if col == "" || tapKeyword(col) {
				pos--
				return nil, unexpected("<column name>")
			}
			op := strings.ToUpper(peek())
			switch op {
			case "=", "!=", "<>", "<", ">", "<=", ">=", "LIKE":
				next()
			default:
				return nil, unexpected(`"=", "<>", "<", ">", "<=", ">=" or "LIKE"`)
			}
			lit := peek()
			cond := tapCond{col: col, op: op}
			switch {
			case strings.HasPrefix(lit, "'"):
				cond.val = lit[1:]
			default:
				if _, err := strconv.ParseFloat(lit, 64); err != nil {
					return nil, unexpected("<literal>")
				}
				cond.val, cond.num = lit, true
			}
			next()
			out.conds = append(out.conds, cond)
			if !is("AND") {
				break
			}
			next()
		}
	}
	if is("ORDER") {
		next()
		if !is("BY") {
			return nil, unexpected(`"BY"`)
		}
		next()
		if peek() == "" || tapKeyword(peek()) {
			return nil, unexpected("<column name>")
		}
		out.orderBy = next()
		if is("ASC") || is("DESC") {
			out.desc = strings.EqualFold(next(), "DESC")
		}
	}
	if pos < len(toks) {
		return nil, unexpected("end of query")
	}
	return out, nil
}

func tapKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "SELECT", "TOP", "FROM", "WHERE", "AND", "OR", "ORDER", "BY", "ASC", "DESC", "LIKE":
		return true
	}
	return false
}

// run executes a parsed query; t.mu is held. Rows are copies.
func (t *TAP) run(q *tapQuery) ([]string, [][]string, error) {
	tb, ok := t.tables[strings.ToLower(strings.Trim(q.table, `"`))]
	if !ok {
		return nil, nil, fmt.Errorf("Cannot resolve table %q: no such table", q.table)
	}
	idx := func(name string) (int, error) {
		name = strings.Trim(name, `"`)
		if i := strings.LastIndex(name, "."); i >= 0 {
			name = name[i+1:]
		}
		for i, c := range tb.cols {
			if strings.EqualFold(c, name) {
				return i, nil
			}
		}
		return -1, fmt.Errorf("Cannot resolve column %q in table %s", name, tb.name)
	}
	var sel []int
	var cols []string
	for _, c := range q.cols {
		if c == "*" {
			for i, name := range tb.cols {
				sel, cols = append(sel, i), append(cols, name)
			}
			continue
		}
		i, err := idx(c)
		if err != nil {
			return nil, nil, err
		}
		sel, cols = append(sel, i), append(cols, tb.cols[i])
	}
	type cond struct {
		i int
		tapCond
	}
	var conds []cond
	for _, c := range q.conds {
		i, err := idx(c.col)
		if err != nil {
			return nil, nil, err
		}
		conds = append(conds, cond{i, c})
	}
	var match [][]string
	for _, row := range tb.rows {
		keep := true
		for _, c := range conds {
			if !tapCompare(row[c.i], c.tapCond) {
				keep = false
				break
			}
		}
		if keep {
			match = append(match, row)
		}
	}
	if q.orderBy != "" {
		i, err := idx(q.orderBy)
		if err != nil {
			return nil, nil, err
		}
		sort.SliceStable(match, func(a, b int) bool {
			x, y := match[a][i], match[b][i]
			cmp := strings.Compare(x, y)
			fx, ex := strconv.ParseFloat(x, 64)
			fy, ey := strconv.ParseFloat(y, 64)
			if ex == nil && ey == nil {
				cmp = 0
				if fx < fy {
					cmp = -1
				} else if fx > fy {
					cmp = 1
				}
			}
			if q.desc {
				return cmp > 0
			}
			return cmp < 0
		})
	}
	if q.top >= 0 && len(match) > q.top {
		match = match[:q.top]
	}
	out := make([][]string, 0, len(match))
	for _, row := range match {
		r := make([]string, len(sel))
		for j, i := range sel {
			r[j] = row[i]
		}
		out = append(out, r)
	}
	return cols, out, nil
}

func tapCompare(v string, c tapCond) bool {
	if c.op == "LIKE" {
		return mastLike(v, c.val)
	}
	var cmp int
	if c.num {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		y, _ := strconv.ParseFloat(c.val, 64)
		switch {
		case x < y:
			cmp = -1
		case x > y:
			cmp = 1
		}
	} else {
		cmp = strings.Compare(v, c.val)
	}
	switch c.op {
	case "=":
		return cmp == 0
	case "!=", "<>":
		return cmp != 0
	case "<":
		return cmp < 0
	case ">":
		return cmp > 0
	case "<=":
		return cmp <= 0
	case ">=":
		return cmp >= 0
	}
	return false
}
