package bucket

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the S3 (and R2) limit on a key's UTF-8 length.
const MaxKeyLen = 1024

// KeyError reports a key that no backend may store.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	k := e.Key
	if len(k) > 80 {
		k = k[:80] + "..."
	}
	return fmt.Sprintf("invalid object key %q: %s", k, e.Reason)
}

// ValidateKey is the single place where keys are checked. Every backend calls
// it before touching storage, so a key that escapes its prefix (".."), that
// would alias another (empty segments) or that the filesystem backend could
// not represent is refused identically everywhere.
func ValidateKey(key string) error {
	bad := func(reason string) error { return &KeyError{Key: key, Reason: reason} }
	switch {
	case key == "":
		return bad("empty key")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("%d bytes, longer than the %d-byte limit", len(key), MaxKeyLen))
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

// ValidatePrefix checks a listing prefix: "" or a key prefix whose complete
// segments are valid. A trailing '/' is allowed.
func ValidatePrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return nil
	}
	return ValidateKey(p)
}

// Clamp resolves r against an object of the given size into [lo, hi).
// A range starting past the end is an error, as S3's 416 is.
func Clamp(r Range, size int64) (lo, hi int64, err error) {
	if r.Offset < 0 || r.Offset > size || (r.Offset == size && size > 0) {
		return 0, 0, fmt.Errorf("range offset %d outside object of %d bytes", r.Offset, size)
	}
	hi = size
	if r.Length >= 0 && r.Offset+r.Length < size {
		hi = r.Offset + r.Length
	}
	return r.Offset, hi, nil
}
