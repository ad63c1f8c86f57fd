package ingest

import (
	"slices"

	"github.com/astroingest/astroingest/sources"
)

// fetchErrorReason returns the reason a kind attached to its error through
// sources.FetchError, "" if none. A reason outside the engine's closed set
// (bad_response) becomes "other", keeping the metric's labels bounded; the
// detail still says what happened.
func fetchErrorReason(err error) string {
	r := sources.ReasonOf(err)
	if r != "" && !slices.Contains(reasons, r) {
		return ReasonOther
	}
	return r
}
