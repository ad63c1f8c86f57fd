package probe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/bucket/probe"
)

// left counts the objects the probe left behind.
func left(t *testing.T, b bucket.Reader) int {
	t.Helper()
	n := 0
	for _, err := range b.List(context.Background(), probe.KeyPrefix) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func TestRun(t *testing.T) {
	b := mem.New()
	rep, err := probe.Run(context.Background(), b, probe.Options{Rounds: 3, Sizes: []int64{1024, 300 << 10}})
	if err != nil {
		t.Fatalf("Run: %v (errors %q)", err, rep.Errors)
	}
	if len(rep.Ops) != 10 || rep.Rounds != 3 || len(rep.Errors) != 0 {
		t.Fatalf("report %+v, want 5 ops x 2 sizes over 3 rounds without errors", rep)
	}
	for i, s := range rep.Ops {
		wantOp := []string{probe.OpPut, probe.OpStat, probe.OpGet, probe.OpGetRange, probe.OpDelete}[i%5]
		wantSize := []string{"1 KiB", "300 KiB"}[i/5]
		if s.Op != wantOp || s.Size != wantSize || s.Count != 3 {
			t.Errorf("row %d = %s %s n=%d, want %s %s n=3", i, s.Op, s.Size, s.Count, wantOp, wantSize)
		}
		if s.P50ms > s.P95ms || s.P95ms > s.P99ms {
			t.Errorf("%s %s: percentiles out of order: %v %v %v", s.Op, s.Size, s.P50ms, s.P95ms, s.P99ms)
		}
		if moves := s.Op != probe.OpStat && s.Op != probe.OpDelete; moves != (s.MiBps > 0) {
			t.Errorf("%s %s: throughput %v", s.Op, s.Size, s.MiBps)
		}
	}
	if n := left(t, b); n != 0 || b.Staged() != 0 {
		t.Errorf("%d probe objects and %d staged puts left behind", n, b.Staged())
	}
}

func TestRunRejectsOptions(t *testing.T) {
	for _, o := range []probe.Options{{Rounds: 0, Sizes: []int64{1}}, {Rounds: 1}, {Rounds: 1, Sizes: []int64{1024, 0}}} {
		if rep, err := probe.Run(context.Background(), mem.New(), o); err == nil || rep != nil {
			t.Errorf("Run(%+v) = %v, %v; want an error", o, rep, err)
		}
	}
}

// corrupting hands back damaged bytes on every read, as a faulty disk,
// proxy or backend would.
type corrupting struct {
	bucket.Bucket
	damage func([]byte) []byte
}

func (c corrupting) Open(ctx context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	rc, err := c.Bucket.Open(ctx, key, rng)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(c.damage(data))), nil
}

// The probe exists to catch a data flow that loses or changes bytes: a
// bucket that does so must fail it with the mismatch reported.
func TestRunDetectsCorruption(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
		want   []string // in the report's errors
	}{
		{"bit flip", func(p []byte) []byte { p[len(p)/2] ^= 0x10; return p },
			[]string{"get _probe/", "sha256", "get-range _probe/", "differ from what was written"}},
		{"truncated", func(p []byte) []byte { return p[:len(p)-1] },
			[]string{"get _probe/", "read back 1023 bytes", "get-range _probe/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := mem.New()
			opts := probe.Options{Rounds: 2, Sizes: []int64{1024}}
			rep, err := probe.Run(context.Background(), corrupting{inner, tt.damage}, opts)
			if err == nil {
				t.Fatal("Run over a corrupting bucket succeeded")
			}
			// Every round's full read and ranged read is damaged.
			if len(rep.Errors) != 2*opts.Rounds {
				t.Errorf("%d errors, want %d: %q", len(rep.Errors), 2*opts.Rounds, rep.Errors)
			}
			all := strings.Join(rep.Errors, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) || !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q:\n%s", w, all)
				}
			}
			if n := left(t, inner); n != 0 {
				t.Errorf("%d probe objects left behind", n)
			}
		})
	}
}

// cancelling cancels the probe's context at its third Put, as a SIGTERM
// in the middle of a round would.
type cancelling struct {
	bucket.Bucket
	cancel context.CancelFunc
	puts   int
}

func (c *cancelling) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if c.puts++; c.puts == 3 {
		p, err := c.Bucket.Put(ctx, key, r, opts)
		c.cancel()
		return p, err
	}
	return c.Bucket.Put(ctx, key, r, opts)
}

// An interrupted probe reports the interruption and deletes what it wrote,
// and aborts the put the interruption caught before its commit.
func TestRunInterruptedCleansUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := mem.New()
	_, err := probe.Run(ctx, &cancelling{Bucket: inner, cancel: cancel}, probe.Options{Rounds: 100, Sizes: []int64{4096}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if n := left(t, inner); n != 0 || inner.Staged() != 0 {
		t.Errorf("%d probe objects and %d staged puts left behind", n, inner.Staged())
	}
}
