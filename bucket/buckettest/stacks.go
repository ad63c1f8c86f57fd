package buckettest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astroingest/astroingest/bucket"
)

// StackPrefix is the key prefix under which RunStacks runs the suite
// behind the decorators. RunStacks, like Run, is for one test at a time
// and runs its subtests one after another.
const StackPrefix = "mirror/v1"

// RunStacks runs the suite over the bare backend that newBucket returns
// ("plain"), over the same backend behind bucket.WithPrefix ("prefix"),
// and behind bucket.Stack with a prefix and metrics on a fresh registry
// ("stacked", the form the command uses), so that every backend proves the
// decorators keep its contract. Options apply to all three; a Leftovers
// func receives the decorated bucket and should reach the backend with
// bucket.As.
func RunStacks(t *testing.T, newBucket func(t *testing.T) bucket.Bucket, opts ...Options) {
	stacks := []struct {
		name string
		wrap func(bucket.Bucket) (bucket.Bucket, error)
	}{
		{"plain", func(b bucket.Bucket) (bucket.Bucket, error) { return b, nil }},
		{"prefix", func(b bucket.Bucket) (bucket.Bucket, error) { return bucket.WithPrefix(b, StackPrefix) }},
		{"stacked", func(b bucket.Bucket) (bucket.Bucket, error) {
			return bucket.Stack(b, bucket.Layers{Prefix: StackPrefix, Metrics: prometheus.NewRegistry()})
		}},
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
