package mem_test

import (
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/mem"
)

func TestConformance(t *testing.T) {
	buckettest.RunStacks(t, func(t *testing.T) bucket.Bucket { return mem.New() }, buckettest.Options{
		Leftovers: func(t *testing.T, b bucket.Bucket) int {
			m, ok := bucket.As[*mem.Bucket](b)
			if !ok {
				t.Fatalf("no *mem.Bucket under %T", b)
			}
			return m.Staged()
		},
	})
}
