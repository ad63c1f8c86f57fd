//go:build !unix

package ingest

import "os"

// tryLock is a no-op where flock(2) does not exist: two pulls into one
// directory are then the user's to avoid.
func tryLock(*os.File) error { return nil }
