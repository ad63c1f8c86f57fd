package ingest

import (
	"testing"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// What a listing says decides, with no request, whether a recorded object
// is unchanged; when it cannot tell, the engine asks the publisher.
func TestUnchangedByListing(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := &ObjectRecord{Size: 10, SourceETag: `"e1"`, LastModified: mod.Format(httpTime),
		PublisherChecksum: &sources.Checksum{Algo: "md5", Value: "abc"}}
	noSum := *prev
	noSum.PublisherChecksum = nil
	tests := []struct {
		name string
		obj  sources.Object
		prev *ObjectRecord
		want listingVerdict
	}{
		{"other size", sources.Object{Size: 11}, prev, listingChanged},
		{"same checksum", sources.Object{Size: 10, Checksum: &sources.Checksum{Algo: "md5", Value: "ABC"}}, prev, listingSame},
		{"other checksum", sources.Object{Size: -1, Checksum: &sources.Checksum{Algo: "md5", Value: "abd"}}, prev, listingChanged},
		{"same etag", sources.Object{Size: -1, ETag: `"e1"`}, &noSum, listingSame},
		{"other etag", sources.Object{Size: -1, ETag: `"e2"`}, &noSum, listingChanged},
		{"same last-modified", sources.Object{Size: 10, LastModified: mod}, &noSum, listingSame},
		{"other last-modified", sources.Object{Size: 10, LastModified: mod.Add(time.Second)}, &noSum, listingChanged},
		{"listed in the same minute", sources.Object{Size: 10, ListedModTime: mod.Truncate(time.Minute)}, &noSum, listingSame},
		{"listed another minute (or zone)", sources.Object{Size: 10, ListedModTime: mod.Add(-time.Hour).Truncate(time.Minute)}, &noSum, listingUnknown},
		{"listed minute without a size", sources.Object{Size: -1, ListedModTime: mod.Truncate(time.Minute)}, &noSum, listingUnknown},
		{"nothing to compare", sources.Object{Size: 10}, &noSum, listingUnknown},
	}
	for _, tt := range tests {
		if got := unchangedByListing(tt.obj, tt.prev); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"
