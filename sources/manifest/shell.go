package manifest

// Shell word splitting for the curl_script format: just enough of sh's
// grammar to read the plain lines download scripts hold, and nothing is
// ever executed.

import (
	"fmt"
	"path"
	"strings"
)

// word is one shell word after quote removal. op marks an unquoted
// redirection operator (">", "2>&", ...), whose target is the next word;
// expands marks a word that holds an unquoted or double-quoted $ or `,
// which only a shell could evaluate.
type word struct {
	text    string
	op      bool
	expands bool
}

type command struct {
	line  int
	words []word
}

// shellCommands splits a script into simple commands the way sh would for
// the plain lines download scripts hold: quotes, backslash escapes and
// line continuations, comments, the separators newline ; & && | ||, and
// redirections. There is no expansion, no here-document and no
// compound-command parsing: those lines are not downloads.
func shellCommands(text string) ([]command, error) {
	lx := &lexer{text: text, line: 1}
	for ; lx.i < len(text); lx.i++ {
		if err := lx.step(); err != nil {
			return nil, err
		}
	}
	lx.endCmd()
	return lx.cmds, nil
}

// lexer is shellCommands' state: the text and the position in it (i, and
// the line it is on), the commands so far, and the command and word being
// read.
type lexer struct {
	text string
	i    int
	line int

	cmds    []command
	cur     command
	w       strings.Builder
	inWord  bool
	expands bool
}

// step reads the character at i, and any that belong with it (a quoted
// string, a comment, an operator); i is then on the last one read.
func (lx *lexer) step() error {
	text, i := lx.text, lx.i
	ch := text[i]
	switch {
	case ch == '\n':
		lx.endCmd()
		lx.line++
	case ch == ' ' || ch == '\t' || ch == '\r':
		lx.endWord()
	case ch == '#' && !lx.inWord:
		for lx.i+1 < len(text) && text[lx.i+1] != '\n' {
			lx.i++
		}
	case ch == '\\':
		lx.backslash()
	case ch == '\'':
		return lx.singleQuoted()
	case ch == '"':
		return lx.doubleQuoted()
	case ch == ';' || ch == '|' || ch == '&' && !(i+1 < len(text) && text[i+1] == '>'):
		lx.endCmd()
		if i+1 < len(text) && text[i+1] == ch {
			lx.i++
		}
	case ch == '>' || ch == '<' || ch == '&':
		lx.redirection(ch)
	default:
		lx.startWord()
		if ch == '$' || ch == '`' {
			lx.expands = true
		}
		lx.w.WriteByte(ch)
	}
	return nil
}

func (lx *lexer) endWord() {
	if lx.inWord {
		lx.cur.words = append(lx.cur.words, word{text: lx.w.String(), expands: lx.expands})
	}
	lx.w.Reset()
	lx.inWord, lx.expands = false, false
}

func (lx *lexer) endCmd() {
	lx.endWord()
	if len(lx.cur.words) > 0 {
		lx.cmds = append(lx.cmds, lx.cur)
	}
	lx.cur = command{}
}

func (lx *lexer) startWord() {
	if !lx.inWord {
		lx.inWord = true
		if len(lx.cur.words) == 0 {
			lx.cur.line = lx.line
		}
	}
}

// backslash: a line continuation (also before \r\n), or an escaped
// character taken literally.
func (lx *lexer) backslash() {
	text, i := lx.text, lx.i
	if i+1 < len(text) && text[i+1] == '\n' {
		lx.i++
		lx.line++
		return
	}
	if i+1 < len(text) && text[i+1] == '\r' && i+2 < len(text) && text[i+2] == '\n' {
		lx.i += 2
		lx.line++
		return
	}
	lx.startWord()
	if i+1 < len(text) {
		lx.i++
		lx.w.WriteByte(text[lx.i])
	}
}

// singleQuoted takes everything up to the closing quote literally.
func (lx *lexer) singleQuoted() error {
	lx.startWord()
	end := strings.IndexByte(lx.text[lx.i+1:], '\'')
	if end < 0 {
		return fmt.Errorf("line %d: unterminated single quote", lx.line)
	}
	s := lx.text[lx.i+1 : lx.i+1+end]
	lx.line += strings.Count(s, "\n")
	lx.w.WriteString(s)
	lx.i += end + 1
	return nil
}

// doubleQuoted reads up to the closing quote, where a backslash escapes
// only $ ` " \ and newline, and $ or ` mark the word as needing expansion.
func (lx *lexer) doubleQuoted() error {
	lx.startWord()
	text := lx.text
	start := lx.line
	for lx.i++; lx.i < len(text); lx.i++ {
		c := text[lx.i]
		if c == '"' {
			return nil
		}
		if c == '\n' {
			lx.line++
		}
		if c == '$' || c == '`' {
			lx.expands = true
		}
		if c == '\\' && lx.i+1 < len(text) && strings.IndexByte("$`\"\\\n", text[lx.i+1]) >= 0 {
			lx.i++
			if text[lx.i] == '\n' {
				lx.line++
				continue
			}
			c = text[lx.i]
		}
		lx.w.WriteByte(c)
	}
	return fmt.Errorf("line %d: unterminated double quote", start)
}

// redirection reads [n]> [n]>> [n]< [n]>& &> &>>. A word of digits just
// before it is the file descriptor.
func (lx *lexer) redirection(ch byte) {
	fd := ""
	if lx.inWord && isDigits(lx.w.String()) {
		fd = lx.w.String()
		lx.w.Reset()
		lx.inWord = false
	} else {
		lx.endWord()
	}
	op := fd + string(ch)
	for lx.i+1 < len(lx.text) && (lx.text[lx.i+1] == '>' || lx.text[lx.i+1] == '&') && len(op) < len(fd)+3 {
		lx.i++
		op += string(lx.text[lx.i])
	}
	if len(lx.cur.words) == 0 {
		lx.cur.line = lx.line
	}
	lx.cur.words = append(lx.cur.words, word{text: op, op: true})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// commandWords drops redirections (with their targets), leading variable
// assignments and wrappers such as nohup, and returns the program's base
// name and its arguments.
func commandWords(ws []word) (string, []word) {
	var args []word
	for i := 0; i < len(ws); i++ {
		if ws[i].op {
			i++ // the redirection's target
			continue
		}
		args = append(args, ws[i])
	}
	for len(args) > 0 {
		t := args[0].text
		switch {
		case isAssignment(t):
		case t == "nohup" || t == "time" || t == "exec" || t == "command" || t == "do" || t == "then" || t == "else":
		case t == "nice":
			if len(args) > 3 && args[1].text == "-n" {
				args = args[3:]
				continue
			}
			if len(args) > 1 && strings.HasPrefix(args[1].text, "-") {
				args = args[1:]
			}
		default:
			return path.Base(t), args[1:]
		}
		args = args[1:]
	}
	return "", nil
}

func isAssignment(s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	for i, c := range s[:eq] {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
