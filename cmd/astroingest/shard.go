package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/ingest"
)

// shardCountUnset is the count to give parseShard when --shard-count was
// not given, as distinct from an explicit (and invalid) 0.
const shardCountUnset = -1

// parseShard reads "--shard I/N". An empty flag takes I from
// JOB_COMPLETION_INDEX (the Indexed Job's pod index) and N from count
// (--shard-count, or shardCountUnset to take SHARD_COUNT), the way a
// Kubernetes Indexed Job passes them. A pod index without a count is an
// error: ignored, it would have every pod of the job mirror everything.
func parseShard(flag string, count int, getenv func(string) string) (ingest.Shard, error) {
	if flag != "" {
		i, n, ok := strings.Cut(flag, "/")
		if !ok {
			return ingest.Shard{}, fmt.Errorf("--shard %q: want I/N, e.g. 0/4", flag)
		}
		ii, err1 := strconv.Atoi(i)
		nn, err2 := strconv.Atoi(n)
		if err1 != nil || err2 != nil || nn < 1 || ii < 0 || ii >= nn {
			return ingest.Shard{}, fmt.Errorf("--shard %q: want I/N with 0 <= I < N", flag)
		}
		return ingest.Shard{Index: ii, Count: nn}, nil
	}
	from := "--shard-count"
	switch {
	case count == shardCountUnset:
		if v := getenv("SHARD_COUNT"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return ingest.Shard{}, fmt.Errorf("SHARD_COUNT %q: want a positive integer", v)
			}
			count, from = n, "SHARD_COUNT"
		}
	case count < 1:
		return ingest.Shard{}, fmt.Errorf("--shard-count %d: must be at least 1", count)
	}
	v := getenv("JOB_COMPLETION_INDEX")
	if count == shardCountUnset {
		if n, err := strconv.Atoi(v); v != "" && (err != nil || n != 0) {
			return ingest.Shard{}, fmt.Errorf("JOB_COMPLETION_INDEX=%s is set but no shard count: give --shard-count N or SHARD_COUNT=N (the Indexed Job's completions), or --shard I/N", v)
		}
		return ingest.Shard{Index: 0, Count: 1}, nil
	}
	if v == "" {
		if count == 1 {
			return ingest.Shard{Index: 0, Count: 1}, nil
		}
		return ingest.Shard{}, fmt.Errorf("%s %d given but no shard index: set --shard I/N or JOB_COMPLETION_INDEX", from, count)
	}
	idx, err := strconv.Atoi(v)
	if err != nil || idx < 0 || idx >= count {
		return ingest.Shard{}, fmt.Errorf("JOB_COMPLETION_INDEX %q: want an integer in [0,%d) for %s %d", v, count, from, count)
	}
	return ingest.Shard{Index: idx, Count: count}, nil
}
