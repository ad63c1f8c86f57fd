package index

// A scanner for the anchors of HTML listings, a row at a time.

import (
	"bytes"
)

// scanAnchors calls fn with the href of each complete anchor in b and the
// bytes after its </a>. It is a hand-written scanner, not a regular
// expression: listings of a million rows made the expression the most
// expensive part of a run.
func scanAnchors(b []byte, fn func(href string, after []byte)) {
	for i := 0; i < len(b); {
		p := indexFold(b[i:], "<a")
		if p < 0 {
			return
		}
		p += i
		i = p + 2
		if i >= len(b) || !isSpace(b[i]) {
			continue
		}
		href, tagEnd, ok := hrefOf(b, i)
		if !ok {
			continue
		}
		closeAt := indexFold(b[tagEnd:], "</a>")
		if closeAt < 0 {
			continue
		}
		end := tagEnd + closeAt + len("</a>")
		fn(href, b[end:])
		i = end
	}
}

// hrefOf reads the href attribute of the tag whose attributes start at
// i, and where the tag ends (after its ">").
func hrefOf(b []byte, i int) (href string, tagEnd int, ok bool) {
	gt := bytes.IndexByte(b[i:], '>')
	if gt < 0 {
		return "", 0, false
	}
	h := indexFold(b[i:i+gt], "href")
	if h < 0 {
		return "", 0, false
	}
	j := i + h + len("href")
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j >= len(b) || b[j] != '=' {
		return "", 0, false
	}
	j++
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j >= len(b) {
		return "", 0, false
	}
	var v []byte
	switch q := b[j]; q {
	case '"', '\'':
		k := bytes.IndexByte(b[j+1:], q)
		if k < 0 {
			return "", 0, false
		}
		v = b[j+1 : j+1+k]
		j += k + 2
	default:
		k := j
		for k < len(b) && !isSpace(b[k]) && b[k] != '>' {
			k++
		}
		v, j = b[j:k], k
	}
	gt = bytes.IndexByte(b[j:], '>')
	if gt < 0 {
		return "", 0, false
	}
	return string(v), j + gt + 1, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// indexFold is bytes.Index for an ASCII lower-case needle, ignoring case.
func indexFold(b []byte, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(b); i++ {
		j := bytes.IndexByte(b[i:], needle[0])
		k := bytes.IndexByte(b[i:], needle[0]-'a'+'A')
		if j < 0 || k >= 0 && k < j {
			j = k
		}
		if j < 0 {
			return -1
		}
		i += j
		if i+n > len(b) {
			return -1
		}
		if asciiEqualFold(b[i:i+n], needle) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// openAnchor reports whether b ends inside an anchor: its last "<a" has
// no "</a>" after it.
func openAnchor(b []byte) bool {
	last := -1
	for i := 0; ; {
		p := indexFold(b[i:], "<a")
		if p < 0 {
			break
		}
		p += i
		if p+2 < len(b) && isSpace(b[p+2]) || p+2 == len(b) {
			last = p
		}
		i = p + 2
	}
	return last >= 0 && indexFold(b[last:], "</a>") < 0
}
