package bucket

import (
	"fmt"
	"strings"

	"github.com/astroingest/astroingest/internal/objkey"
)

// MaxKeyLen is the S3 (and R2) limit on a key's UTF-8 length.
const MaxKeyLen = objkey.MaxLen

// KeyError reports a key that no backend may store. It is objkey.Error, the
// type the registry loader reports too.
type KeyError = objkey.Error

// ValidateKey is the single place where keys are checked. Every backend calls
// it before touching storage, so a key that escapes its prefix (".."), that
// would alias another (empty segments) or that the filesystem backend could
// not represent is refused identically everywhere. The check itself is
// internal/objkey's, which the registry loader shares without importing
// bucket. Safe for concurrent use.
func ValidateKey(key string) error { return objkey.Validate(key) }

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
