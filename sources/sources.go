// Package sources holds the registry model: families, their expansion into
// entries, host policies, and the Kind interface that turns an entry into the
// objects to fetch. It knows nothing of buckets.
package sources

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Domains returns the top-level bucket prefixes. Nothing may be written
// outside them; a fresh slice each call keeps that list out of reach of
// callers that would modify it.
func Domains() []string { return []string{"climate", "biology", "astronomy", "spectroscopy"} }

// Meta is the descriptive metadata a family gives all its entries. It is
// copied into every manifest.
type Meta struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Provider    string `json:"provider"`
	License     string `json:"license"`
	Citation    string `json:"citation"`
	DOI         string `json:"doi,omitempty"`
	Homepage    string `json:"homepage,omitempty"`
}

// Entry is one tracked, scheduled unit with its own manifest.
type Entry struct {
	ID       string
	Family   string
	Domain   string
	Kind     string
	Schedule string // once | daily | weekly | monthly | yearly
	// Key is relative to the domain: the object key for one-object kinds and
	// the prefix for many-object kinds.
	Key       string
	URL       string
	Checksums string            // optional md5sum-style listing URL
	Params    map[string]string // kind-specific, already templated
	Meta      Meta
	// BudgetBytes is the family's per-run budget, 0 for none.
	BudgetBytes int64
	// ContentTypes are the media types the family's objects may be served
	// as; empty means any but an HTML page for a name that is not one (a
	// login page in place of the data). Shared, read-only.
	ContentTypes []string
	// RedirectHosts are the hosts a download may be redirected to besides
	// the URL's own (MAST and CDS hand out storage URLs). Shared, read-only.
	RedirectHosts []string
	// Where the entry was declared, for error messages.
	File string
	Line int
}

// KeyPrefix is the bucket key (or key prefix) of the entry, domain included.
func (e Entry) KeyPrefix() string { return e.Domain + "/" + e.Key }

// Interval is the schedule as a duration; 0 for "once".
func (e Entry) Interval() time.Duration {
	switch e.Schedule {
	case "daily":
		return 24 * time.Hour
	case "weekly":
		return 7 * 24 * time.Hour
	case "monthly", "":
		return 30 * 24 * time.Hour
	case "yearly":
		return 365 * 24 * time.Hour
	}
	return 0
}

// Checksum is a publisher-given digest. Algo is "md5", "sha1", "sha256" or "sha512"; Value is lower-case hex.
type Checksum struct {
	Algo  string `json:"algo"`
	Value string `json:"value"`
}

// Object is one file to fetch.
type Object struct {
	// Name is the object's path below the entry's key prefix; empty for
	// one-object kinds, where the object key is the entry key itself.
	Name string
	URL  string
	// Size is the publisher's size, -1 when unknown.
	Size     int64
	Checksum *Checksum
	// ETag and LastModified are the publisher's validators when the listing
	// gave them, for conditional refetch.
	ETag         string
	LastModified time.Time
	// ListedModTime is a date a listing printed to the minute, in a time
	// zone it does not say (an HTML autoindex page): not a validator, but
	// an object whose recorded Last-Modified falls in that very minute, at
	// the recorded size, has not changed (see the engine's unchanged
	// check); zero when the listing gave none.
	ListedModTime time.Time
	ContentType   string
	// SizeValidates says the URL at the listed Size names the same bytes
	// until the size changes (MAST products: a dataURI and a size, and no
	// validator on the download): a recorded object of this URL and size,
	// present in the bucket, is unchanged.
	SizeValidates bool
	// ChecksumMissing is the checksum listing that should have named the
	// object and did not: it is reported (checksum_missing), never
	// mirrored unverified.
	ChecksumMissing string
	// Method and Body allow kinds whose download is not a plain GET.
	Method string
	Body   []byte
}

// Kind turns an entry into the objects to fetch. Implementations take the
// *http.Client from the caller: rate limits, credentials, user agent and
// metrics are RoundTripper wrappers added there, never inside a kind.
type Kind interface {
	Objects(ctx context.Context, c *http.Client, e Entry) ([]Object, error)
}

// KindValidator is the optional ability of a Kind to check an entry without
// the network, found by type assertion (as io/fs finds ReadDirFS). Validate
// parses the entry's params through the same function Objects uses, so the
// loader, and with it "astroingest sources validate" (the gate of every
// registry change), refuses a param that a run would fail on. Its error
// names the param but not the entry: the loader reports it at the entry's
// declaration, and Objects wraps it with ParamsError. The loader calls
// Validate once per entry, from one goroutine per load; implementations
// must be cheap, and safe for concurrent use like Objects.
type KindValidator interface {
	Kind
	Validate(e Entry) error
}

// Lister is the optional ability of a Kind whose listings can hold more
// objects than should sit in memory at once (a directory of a million
// files, a checksum file or download script of as many lines): List hands
// each object to emit as it is parsed, in no particular order, and stops
// at emit's first error, which it returns. Found by type assertion;
// ListObjects is the one way callers list. Safe for concurrent use like
// Objects.
type Lister interface {
	Kind
	List(ctx context.Context, c *http.Client, e Entry, emit func(Object) error) error
}

// ListObjects lists e's objects through k.List when k is a Lister, else
// through k.Objects, handing each to emit. A pure function over its
// arguments, safe for concurrent use.
func ListObjects(ctx context.Context, k Kind, c *http.Client, e Entry, emit func(Object) error) error {
	if l, ok := k.(Lister); ok {
		return l.List(ctx, c, e, emit)
	}
	objs, err := k.Objects(ctx, c, e)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := emit(o); err != nil {
			return err
		}
	}
	return nil
}

// CollectObjects is Objects for a Lister: every object, in one slice, for
// callers and tests that want them all at once.
func CollectObjects(ctx context.Context, l Lister, c *http.Client, e Entry) ([]Object, error) {
	var out []Object
	err := l.List(ctx, c, e, func(o Object) error {
		out = append(out, o)
		return nil
	})
	return out, err
}

// ParamsError locates a kind's params error at the entry's declaration,
// "FILE:LINE: entry ID: ERR", for Objects to return what Validate reports.
// A pure function, safe for concurrent use.
func ParamsError(e Entry, err error) error {
	return fmt.Errorf("%s:%d: entry %s: %w", e.File, e.Line, e.ID, err)
}
