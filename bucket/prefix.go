package bucket

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// WithPrefix returns b restricted to the keys under prefix, for every
// backend: a pure key-rewriting decorator, as thanos' PrefixedBucket. Key
// K of the returned bucket is key prefix+"/"+K of b. Keys are checked
// with ValidateKey as the caller wrote them, before the prefix is added,
// so a key that is invalid without the prefix stays invalid with it; b
// then checks the whole key too (its length, for one). Listed keys, and
// the keys of ObjectInfo from Stat and Commit, have the prefix stripped,
// so the returned bucket behaves exactly as b would if it held only what
// lies under prefix. Errors from b name the whole key, which is where the
// object really is.
//
// Leading and trailing '/' of prefix are ignored; the rest must be a valid
// key. An empty prefix returns b itself. If b is a StaleCleaner, so is the
// result, with the cleaning prefix rewritten the same way.
//
// The returned bucket holds no state of its own beyond the prefix and is
// safe for concurrent use as b is. Unwrap returns b.
func WithPrefix(b Bucket, prefix string) (Bucket, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return b, nil
	}
	if err := ValidateKey(prefix); err != nil {
		return nil, fmt.Errorf("bucket prefix: %w", err)
	}
	p := &prefixed{Bucket: b, prefix: prefix + "/"}
	if sc, ok := b.(StaleCleaner); ok {
		return prefixedCleaner{p, sc}, nil
	}
	return p, nil
}

// prefixed embeds the inner bucket, as restic's decorators do; it
// overrides every method of Bucket, since each one takes a key.
type prefixed struct {
	Bucket
	prefix string // ends in "/"
}

// Unwrap returns the bucket that holds the prefixed keys.
func (p *prefixed) Unwrap() Bucket { return p.Bucket }

func (p *prefixed) strip(info ObjectInfo) ObjectInfo {
	info.Key = strings.TrimPrefix(info.Key, p.prefix)
	return info
}

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Pending, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("put: %w", err)
	}
	pend, err := p.Bucket.Put(ctx, p.prefix+key, r, opts)
	if err != nil {
		return nil, err
	}
	return prefixedPending{pend, p}, nil
}

func (p *prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	info, err := p.Bucket.Stat(ctx, p.prefix+key)
	return p.strip(info), err
}

func (p *prefixed) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return p.Bucket.Open(ctx, p.prefix+key, rng)
}

func (p *prefixed) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ValidatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, fmt.Errorf("list: %w", err))
			return
		}
		for info, err := range p.Bucket.List(ctx, p.prefix+prefix) {
			if err == nil && !strings.HasPrefix(info.Key, p.prefix) {
				continue // cannot happen with a correct b; never show it
			}
			if !yield(p.strip(info), err) {
				return
			}
		}
	}
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return p.Bucket.Delete(ctx, p.prefix+key)
}

// prefixedCleaner is a prefixed bucket over a StaleCleaner. It is a
// separate type so that a type assertion for StaleCleaner on a prefixed
// bucket answers as it would on the inner one.
type prefixedCleaner struct {
	*prefixed
	sc StaleCleaner
}

// CleanStale cleans under the prefixed form of prefix, so that staged data
// outside this bucket's prefix is never touched.
func (p prefixedCleaner) CleanStale(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return 0, fmt.Errorf("clean stale: %w", err)
	}
	return p.sc.CleanStale(ctx, p.prefix+prefix, cutoff)
}

// prefixedPending strips the prefix from the committed object's key.
type prefixedPending struct {
	Pending
	p *prefixed
}

func (pp prefixedPending) Commit(ctx context.Context) (ObjectInfo, error) {
	info, err := pp.Pending.Commit(ctx)
	return pp.p.strip(info), err
}
