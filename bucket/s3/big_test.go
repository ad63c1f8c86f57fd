package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// genReader yields n deterministic bytes of unknown length (no Len, Seek or
// WriterTo), cheaply: a random 1 MiB block whose first bytes carry the block
// number, so no two blocks are equal and a misplaced part changes the hash.
type genReader struct {
	block []byte
	n     int64 // bytes left
	off   int64 // bytes produced
}

func newGenReader(n int64) *genReader {
	block := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	return &genReader{block: block, n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	total := 0
	for len(p) > 0 {
		blk := g.off >> 20
		i := g.off & (1<<20 - 1)
		if i == 0 {
			copy(g.block, strconv.AppendInt(nil, blk, 16))
		}
		k := copy(p, g.block[i:])
		p = p[k:]
		total += k
		g.off += int64(k)
	}
	g.n -= int64(total)
	return total, nil
}

// vmHWM is the process's peak resident set size in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestBigStream streams 2 GiB (ASTROINGEST_BIG_MIB overrides) of unknown
// length into versitygw at the default part size and concurrency, then
// reads it back and compares hashes. It reports MiB/s and the process's
// peak RSS, which must stay under 160 MiB. Run with ASTROINGEST_BIG=1;
// it is skipped otherwise because it takes tens of seconds and 2 GiB of disk.
func TestBigStream(t *testing.T) {
	if os.Getenv("ASTROINGEST_BIG") == "" {
		t.Skip("set ASTROINGEST_BIG=1 to stream 2 GiB into versitygw")
	}
	size := int64(2 << 30)
	if v := os.Getenv("ASTROINGEST_BIG_MIB"); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("ASTROINGEST_BIG_MIB=%q: %v", v, err)
		}
		size = mib << 20
	}
	srv := versitygw.Start(t)
	ctx := context.Background()
	cfg := config(srv, srv.Bucket)
	cfg.PartSize = 0 // defaults: 16 MiB parts, 4 in flight
	b := newBucket(t, cfg)

	src := newGenReader(size)
	h := sha256.New()
	start := time.Now()
	p, err := b.Put(ctx, "big/stream.bin", io.TeeReader(src, h), bucket.PutOptions{})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	staged := time.Since(start)
	info, err := p.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	elapsed := time.Since(start)
	peak := vmHWM(t)
	mibps := float64(size) / (1 << 20) / elapsed.Seconds()
	t.Logf("put %d MiB unknown-length: %.1fs (staged %.1fs, commit %.2fs), %.0f MiB/s, peak RSS %.1f MiB (part %d MiB x %d in flight)",
		size>>20, elapsed.Seconds(), staged.Seconds(), (elapsed - staged).Seconds(), mibps, float64(peak)/(1<<20), s3.DefaultPartSize>>20, s3.DefaultConcurrency)
	if info.Size != size {
		t.Fatalf("committed %d bytes, want %d", info.Size, size)
	}
	if peak >= 160<<20 {
		t.Errorf("peak RSS %.1f MiB, want < 160 MiB", float64(peak)/(1<<20))
	}

	rc, err := b.Open(ctx, "big/stream.bin", nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	back := sha256.New()
	n, err := io.Copy(back, rc)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if n != size || !bytes.Equal(back.Sum(nil), h.Sum(nil)) {
		t.Fatalf("read back %d bytes with a different hash than the %d written", n, size)
	}
}
