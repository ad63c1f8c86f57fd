package mem_test

import (
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/mem"
)

func TestConformance(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) bucket.Bucket { return mem.New() }, buckettest.Options{
		Leftovers: func(t *testing.T, b bucket.Bucket) int { return b.(*mem.Bucket).Staged() },
	})
}
