package emulator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

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

// tapParser reads the tokens of one query.
type tapParser struct {
	toks []string
	pos  int
}

func (p *tapParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *tapParser) next() string { s := p.peek(); p.pos++; return s }

func (p *tapParser) is(kw string) bool { return strings.EqualFold(p.peek(), kw) }

// unexpected is the error ADQL parsers (ADQLLib) give, naming what was
// expected at the current token.
func (p *tapParser) unexpected(want string) error {
	got := p.peek()
	if got == "" {
		return fmt.Errorf("Encountered end of query. Was expecting: %s", want)
	}
	return fmt.Errorf("Encountered %q. Was expecting: %s", got, want)
}

// tapParse parses the supported subset: SELECT [TOP n] cols FROM table
// [WHERE ...] [ORDER BY col [ASC|DESC]].
func tapParse(q string) (*tapQuery, error) {
	toks, err := tapLex(q)
	if err != nil {
		return nil, err
	}
	if n := len(toks); n > 0 && toks[n-1] == ";" {
		toks = toks[:n-1]
	}
	p := &tapParser{toks: toks}
	out := &tapQuery{top: -1}
	if err := p.selectList(out); err != nil {
		return nil, err
	}
	if !p.is("FROM") {
		return nil, p.unexpected(`"FROM" or ","`)
	}
	p.next()
	if p.peek() == "" || tapKeyword(p.peek()) {
		return nil, p.unexpected("<table name>")
	}
	out.table = p.next()
	if p.is("WHERE") {
		p.next()
		if err := p.where(out); err != nil {
			return nil, err
		}
	}
	if p.is("ORDER") {
		p.next()
		if !p.is("BY") {
			return nil, p.unexpected(`"BY"`)
		}
		p.next()
		if p.peek() == "" || tapKeyword(p.peek()) {
			return nil, p.unexpected("<column name>")
		}
		out.orderBy = p.next()
		if p.is("ASC") || p.is("DESC") {
			out.desc = strings.EqualFold(p.next(), "DESC")
		}
	}
	if p.pos < len(p.toks) {
		return nil, p.unexpected("end of query")
	}
	return out, nil
}

// selectList reads SELECT [TOP n] and the column list.
func (p *tapParser) selectList(out *tapQuery) error {
	if !p.is("SELECT") {
		return p.unexpected(`"SELECT"`)
	}
	p.next()
	if p.is("TOP") {
		p.next()
		n, err := strconv.Atoi(p.peek())
		if err != nil || n < 0 {
			return p.unexpected("<UNSIGNED_INTEGER>")
		}
		p.next()
		out.top = n
	}
	for {
		c := p.peek()
		if c == "" || tapKeyword(c) || c == "," {
			return p.unexpected(`"*" or <column name>`)
		}
		out.cols = append(out.cols, p.next())
		if p.peek() != "," {
			return nil
		}
		p.next()
	}
}

// where reads the conditions after WHERE: col op literal, joined by AND.
func (p *tapParser) where(out *tapQuery) error {
	for {
		col := p.next()
		if col == "" || tapKeyword(col) {
			p.pos--
			return p.unexpected("<column name>")
		}
		op := strings.ToUpper(p.peek())
		switch op {
		case "=", "!=", "<>", "<", ">", "<=", ">=", "LIKE":
			p.next()
		default:
			return p.unexpected(`"=", "<>", "<", ">", "<=", ">=" or "LIKE"`)
		}
		lit := p.peek()
		cond := tapCond{col: col, op: op}
		if strings.HasPrefix(lit, "'") {
			cond.val = lit[1:]
		} else {
			if _, err := strconv.ParseFloat(lit, 64); err != nil {
				return p.unexpected("<literal>")
			}
			cond.val, cond.num = lit, true
		}
		p.next()
		out.conds = append(out.conds, cond)
		if !p.is("AND") {
			return nil
		}
		p.next()
	}
}

func tapKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "SELECT", "TOP", "FROM", "WHERE", "AND", "OR", "ORDER", "BY", "ASC", "DESC", "LIKE":
		return true
	}
	return false
}

// column is the index of a column named as in ADQL: any case, optionally
// quoted or qualified by the table name.
func (tb *tapTable) column(name string) (int, error) {
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

// run executes a parsed query; t.mu is held. Rows are copies.
func (t *TAP) run(q *tapQuery) ([]string, [][]string, error) {
	tb, ok := t.tables[strings.ToLower(strings.Trim(q.table, `"`))]
	if !ok {
		return nil, nil, fmt.Errorf("Cannot resolve table %q: no such table", q.table)
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
		i, err := tb.column(c)
		if err != nil {
			return nil, nil, err
		}
		sel, cols = append(sel, i), append(cols, tb.cols[i])
	}
	match, err := tb.where(q.conds)
	if err != nil {
		return nil, nil, err
	}
	if q.orderBy != "" {
		i, err := tb.column(q.orderBy)
		if err != nil {
			return nil, nil, err
		}
		sortRows(match, i, q.desc)
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

// where is the table's rows for which every condition holds.
func (tb *tapTable) where(conds []tapCond) ([][]string, error) {
	at := make([]int, len(conds))
	for k, c := range conds {
		i, err := tb.column(c.col)
		if err != nil {
			return nil, err
		}
		at[k] = i
	}
	var match [][]string
	for _, row := range tb.rows {
		keep := true
		for k, c := range conds {
			if !tapCompare(row[at[k]], c) {
				keep = false
				break
			}
		}
		if keep {
			match = append(match, row)
		}
	}
	return match, nil
}

// sortRows orders rows by column i, numerically when both values are
// numbers, else as strings; the sort is stable.
func sortRows(rows [][]string, i int, desc bool) {
	sort.SliceStable(rows, func(a, b int) bool {
		x, y := rows[a][i], rows[b][i]
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
		if desc {
			return cmp > 0
		}
		return cmp < 0
	})
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
