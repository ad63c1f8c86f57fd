package emulator

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// TAPOptions configure the TAP emulator; NewTAP copies them.
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
// service answers an ADQL syntax error (IVOA TAP 1.1, DALI 1.1 errors,
// VOTable 1.4 results with OVERFLOW when MAXREC cuts them). It is an
// http.Handler; all methods are safe for concurrent use, also while
// requests are served.
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
// replaced by the file base when rows are served. The table keeps rows,
// which the caller must not change afterwards.
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

// ServeHTTP answers {base}/sync and the files below Prefix; anything else
// is 404.
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
		http.ServeContent(w, r, p, apiModTime, bytes.NewReader(data))
	default:
		http.NotFound(w, r)
	}
}

// sync answers {base}/sync. The checks run in the order a TAPLib service
// makes them, so each bad request gets the error a real one gives.
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
	format, msg := tapFormat(param)
	if msg != "" {
		t.fail(w, msg)
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
		files = mountURL(r, t.opts.Prefix) + "/files"
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
	_, _ = w.Write(renderVOTable(cols, rows, overflow))
}

// tapFormat checks REQUEST, LANG, FORMAT and QUERY and gives the result
// format ("csv" or "votable"), or the error message for the request.
func tapFormat(param map[string]string) (format, msg string) {
	if req, ok := param["REQUEST"]; ok && req != "doQuery" {
		return "", fmt.Sprintf("Unknown REQUEST %q; only doQuery is supported", req)
	}
	if lang := param["LANG"]; !strings.HasPrefix(strings.ToUpper(lang), "ADQL") {
		return "", fmt.Sprintf("Unsupported LANG %q; only ADQL is supported", lang)
	}
	switch strings.ToLower(param["FORMAT"]) {
	case "csv", "text/csv":
		format = "csv"
	case "", "votable", "application/x-votable+xml", "text/xml":
		format = "votable"
	default:
		return "", fmt.Sprintf("Unsupported FORMAT %q", param["FORMAT"])
	}
	if strings.TrimSpace(param["QUERY"]) == "" {
		return "", "Missing QUERY parameter"
	}
	return format, ""
}

// renderVOTable is a VOTable 1.4 result document, every column a string,
// with the OVERFLOW status when MAXREC cut the rows.
func renderVOTable(cols []string, rows [][]string, overflow bool) []byte {
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
	return b.Bytes()
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
