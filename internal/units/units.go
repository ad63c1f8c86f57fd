// Package units owns the one syntax for byte sizes that astroingest reads
// (--bwlimit, --max-bytes, probe --sizes) and the one way it prints them.
// Every function is pure and safe for concurrent use.
//
// The syntax ParseBytes reads is a decimal number, optionally followed by a
// unit, with optional spaces around and between the two:
//
//	NUMBER  = DIGITS | DIGITS "." DIGITS | DIGITS "." | "." DIGITS
//	UNIT    = "B" | LETTER | LETTER "B" | LETTER "i" | LETTER "iB"
//	LETTER  = "K" | "M" | "G" | "T" | "P" | "E"
//
// Units are case-insensitive and always binary: K is 1024 bytes, M 1024 K
// and so on, whether written K, KB, Ki or KiB (rclone's convention, and what
// people mean when they type a buffer or file size). There is no sign, no
// exponent and no digit separator. A fraction is exact and the result is
// truncated to whole bytes ("1.5K" is 1536, "0.1K" is 102).
//
// FormatBytes prints a count in the largest unit that keeps the value at
// least 1, as "512 B", "64 MiB" or "1.5 GiB", and ParseBytes reads that
// output back (exactly, when the value printed has no decimal).
package units

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// letters are the unit letters in order: letters[i] is 1024^(i+1).
const letters = "KMGTPE"

// ParseBytes reads a byte count in the syntax of the package comment:
// "1048576", "10M", "1.5G", "2Ti", "500k", "64MiB", "1.5 GiB". It returns
// an error naming s for anything else, for a negative value and for a
// count that does not fit in an int64.
func ParseBytes(s string) (int64, error) {
	num, mult, ok := splitUnit(strings.TrimSpace(s))
	if !ok || !isDecimal(num) {
		return 0, fmt.Errorf("byte size %q: want a number with an optional unit K, M, G, T, P or E (binary: 1K is 1024), e.g. 64MiB or 1.5G", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok { // unreachable after isDecimal, kept as a guard
		return 0, fmt.Errorf("byte size %q: not a number", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates; r >= 0
	if !n.IsInt64() {
		return 0, fmt.Errorf("byte size %q: more than %d bytes", s, int64(math.MaxInt64))
	}
	return n.Int64(), nil
}

// splitUnit cuts the unit off the end of s and returns the number before it
// (spaces trimmed) with the unit's multiplier. ok is false for an "i"
// without a unit letter before it.
func splitUnit(s string) (num string, mult int64, ok bool) {
	u := strings.ToUpper(s)
	if len(u) != len(s) {
		return "", 0, false // not ASCII, so not a size either
	}
	n := len(u)
	if strings.HasSuffix(u, "B") {
		n--
	}
	hasI := n > 0 && u[n-1] == 'I'
	if hasI {
		n--
	}
	mult = 1
	if n > 0 {
		if i := strings.IndexByte(letters, u[n-1]); i >= 0 {
			n--
			mult = 1 << (10 * (i + 1))
		}
	}
	if hasI && mult == 1 {
		return "", 0, false
	}
	return strings.TrimSpace(s[:n]), mult, true
}

// isDecimal reports whether s is digits with at most one '.', and at least
// one digit.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// FormatBytes prints n for people: "512 B", "1 KiB", "64 MiB", "1.5 GiB".
// Below 1 KiB it prints the exact count; above, the value in the largest
// binary unit that keeps it at least 1, with no decimal when it is a whole
// number of that unit and one (rounded) otherwise. A negative n is printed
// as a plain count.
func FormatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	i := 0
	for i+1 < len(letters) && n>>(10*(i+1)) >= 1024 {
		i++
	}
	div := int64(1) << (10 * (i + 1))
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, letters[i])
	}
	v := float64(n) / float64(div)
	// 1023.96 KiB would round up to "1024.0 KiB": say 1 MiB instead.
	if math.Round(v*10) >= 1024*10 && i+1 < len(letters) {
		return fmt.Sprintf("1.0 %ciB", letters[i+1])
	}
	return fmt.Sprintf("%.1f %ciB", v, letters[i])
}
