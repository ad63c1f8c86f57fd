// Package objkey is the one check of object keys, shared by the bucket
// backends (through bucket.ValidateKey) and the registry loader, which
// refuses an entry whose key no backend could store. It lives here, below
// both, because sources may not import bucket. Everything in it is a pure
// function, safe for concurrent use.
package objkey

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the S3 (and R2) limit on a key's UTF-8 length.
const MaxLen = 1024

// Error reports a key that no backend may store. bucket.KeyError is this
// type.
type Error struct {
	Key    string
	Reason string
}

func (e *Error) Error() string {
	k := e.Key
	if len(k) > 80 {
		k = k[:80] + "..."
	}
	return fmt.Sprintf("invalid object key %q: %s", k, e.Reason)
}

// Validate returns an *Error when key escapes its prefix (".."), would
// alias another key (empty segments), or could not be represented by the
// filesystem backend; nil otherwise.
func Validate(key string) error {
	bad := func(reason string) error { return &Error{Key: key, Reason: reason} }
	switch {
	case key == "":
		return bad("empty key")
	case len(key) > MaxLen:
		return bad(fmt.Sprintf("%d bytes, longer than the %d-byte limit", len(key), MaxLen))
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("leading '/'")
	}
	for i, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad(fmt.Sprintf("control character %U at byte %d", r, i))
		}
		if r == '\\' {
			return bad(fmt.Sprintf("backslash at byte %d", i))
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad("empty path segment (\"//\" or trailing '/')")
		case ".", "..":
			return bad(fmt.Sprintf("%q segment", seg))
		}
	}
	return nil
}
