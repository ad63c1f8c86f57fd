package buckettest

import (
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

// StackPrefix is the key prefix under which RunStacks runs the suite
// behind the decorators.
const StackPrefix = "mirror/v1"

// RunStacks runs the suite over the bare backend that newBucket returns
// ("plain") and over the same backend behind bucket.WithPrefix ("prefix"),
// so that every backend proves the decorators keep its contract. Options
// apply to both; a Leftovers func receives the decorated bucket and should
// reach the backend with bucket.As.
func RunStacks(t *testing.T, newBucket func(t *testing.T) bucket.Bucket, opts ...Options) {
	stacks := []struct {
		name string
		wrap func(bucket.Bucket) (bucket.Bucket, error)
	}{
		{"plain", func(b bucket.Bucket) (bucket.Bucket, error) { return b, nil }},
		{"prefix", func(b bucket.Bucket) (bucket.Bucket, error) { return bucket.WithPrefix(b, StackPrefix) }},
	}
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			Run(t, func(t *testing.T) bucket.Bucket {
				b, err := s.wrap(newBucket(t))
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				return b
			}, opts...)
		})
	}
}
