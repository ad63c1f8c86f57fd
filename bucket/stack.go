package bucket

import "github.com/prometheus/client_golang/prometheus"

// Layers chooses the decorators Stack puts around a backend. The zero value
// adds none. The caller (cmd) owns it and the registerer in it.
type Layers struct {
	// Prefix restricts the bucket to the keys under it (WithPrefix), as the
	// PREFIX of s3://BUCKET/PREFIX does. "" for none.
	Prefix string
	// Metrics, when not nil, is the registry the bucket's operations are
	// counted and timed on (WithMetrics). Nil for none.
	Metrics prometheus.Registerer
}

// Stack is the one place the bucket decorators are put around a backend,
// in a fixed order that anyone can read, as restic builds its backend.
// From the inside out:
//
//	backend        the storage itself: s3, fs or mem
//	WithPrefix     keys under l.Prefix: every layer above sees, logs and
//	               validates the keys the caller wrote
//	WithMetrics    outermost, so it counts every call the caller makes (an
//	               invalid key too) and times what the caller waits for
//
// A new decorator (retry, limits) goes into this list, with its reason.
// Stack is safe to call concurrently; the result is safe for concurrent
// use as backend is, and each layer's Unwrap leads back to backend.
func Stack(backend Bucket, l Layers) (Bucket, error) {
	b, err := WithPrefix(backend, l.Prefix)
	if err != nil {
		return nil, err
	}
	if l.Metrics != nil {
		if b, err = WithMetrics(b, l.Metrics); err != nil {
			return nil, err
		}
	}
	return b, nil
}
