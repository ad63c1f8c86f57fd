// Helpers shared by the API emulators (MAST, CDS, TAP) that a Server mounts.

package emulator

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"time"
)

// apiModTime is the Last-Modified of files the API emulators serve: their
// products are fixed for the life of a test.
var apiModTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// patternBytes is n deterministic bytes derived from seed, so fixtures need
// not carry file contents and tests can recompute them.
func patternBytes(seed string, n int64) []byte {
	out := make([]byte, 0, n)
	block := sha256.Sum256([]byte(seed))
	for int64(len(out)) < n {
		out = append(out, block[:min(int64(len(block)), n-int64(len(out)))]...)
		block = sha256.Sum256(block[:])
	}
	return out
}

// mountURL is the URL of the emulator mounted at prefix, as the client
// reached it, so that links stay valid wherever the handler is mounted.
func mountURL(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String() + prefix
}
