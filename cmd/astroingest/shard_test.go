package main

import (
	"strings"
	"testing"

	"github.com/astroingest/astroingest/ingest"
)

func TestParseShard(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const unset = shardCountUnset
	tests := []struct {
		flag  string
		count int
		env   map[string]string
		want  ingest.Shard
		err   string // a substring of the error; "" when none is wanted
	}{
		{"", unset, nil, ingest.Shard{Index: 0, Count: 1}, ""},
		{"2/4", unset, nil, ingest.Shard{Index: 2, Count: 4}, ""},
		{"4/4", unset, nil, ingest.Shard{}, "--shard"},
		{"x", unset, nil, ingest.Shard{}, "--shard"},
		{"", 4, map[string]string{"JOB_COMPLETION_INDEX": "3"}, ingest.Shard{Index: 3, Count: 4}, ""},
		{"", unset, map[string]string{"JOB_COMPLETION_INDEX": "1", "SHARD_COUNT": "2"}, ingest.Shard{Index: 1, Count: 2}, ""},
		{"", 4, nil, ingest.Shard{}, "JOB_COMPLETION_INDEX"},
		{"", 2, map[string]string{"JOB_COMPLETION_INDEX": "2"}, ingest.Shard{}, "JOB_COMPLETION_INDEX"},
		// A pod index without a count would make every pod mirror everything.
		{"", unset, map[string]string{"JOB_COMPLETION_INDEX": "2"}, ingest.Shard{}, "--shard-count N or SHARD_COUNT"},
		{"", unset, map[string]string{"JOB_COMPLETION_INDEX": "x"}, ingest.Shard{}, "--shard-count N or SHARD_COUNT"},
		{"", unset, map[string]string{"JOB_COMPLETION_INDEX": "0"}, ingest.Shard{Index: 0, Count: 1}, ""},
		{"", 1, map[string]string{"JOB_COMPLETION_INDEX": "2"}, ingest.Shard{}, "JOB_COMPLETION_INDEX"},
		{"", 1, map[string]string{"JOB_COMPLETION_INDEX": "0"}, ingest.Shard{Index: 0, Count: 1}, ""},
		{"", 1, nil, ingest.Shard{Index: 0, Count: 1}, ""},
		// A count given explicitly must be positive, 0 as much as -2.
		{"", 0, nil, ingest.Shard{}, "--shard-count 0: must be at least 1"},
		{"", 0, map[string]string{"JOB_COMPLETION_INDEX": "2"}, ingest.Shard{}, "--shard-count 0: must be at least 1"},
		{"", -2, nil, ingest.Shard{}, "--shard-count -2: must be at least 1"},
		{"", unset, map[string]string{"SHARD_COUNT": "0"}, ingest.Shard{}, "SHARD_COUNT"},
		{"", unset, map[string]string{"SHARD_COUNT": "3"}, ingest.Shard{}, "SHARD_COUNT 3"},
		{"", unset, map[string]string{"SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "2"}, ingest.Shard{Index: 2, Count: 3}, ""},
	}
	for _, tt := range tests {
		got, err := parseShard(tt.flag, tt.count, env(tt.env))
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("parseShard(%q,%d,%v) = %v, %v; want %v", tt.flag, tt.count, tt.env, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseShard(%q,%d,%v) = %v, %v; want an error containing %q", tt.flag, tt.count, tt.env, got, err, tt.err)
		}
	}
}
