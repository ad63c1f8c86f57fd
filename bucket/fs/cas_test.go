package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/fs"
)

const (
	casDirEnv  = "ASTROINGEST_FS_CAS_DIR"
	casWriters = 4
	casAdds    = 25
)

// Conditional commits are atomic across processes, not only goroutines:
// several processes add to one counter object with read, compare and swap
// (retrying on ErrPrecondition). A lost update would leave the counter
// short of the number of additions.
func TestCompareAndSwapAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.CreateIfAbsent(context.Background(), b, "counter", []byte("0"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	procs := make([]*exec.Cmd, casWriters)
	outs := make([]bytes.Buffer, casWriters)
	for i := range procs {
		procs[i] = exec.Command(os.Args[0], "-test.run=^TestCASHelperProcess$")
		procs[i].Env = append(os.Environ(), casDirEnv+"="+dir)
		procs[i].Stdout, procs[i].Stderr = &outs[i], &outs[i]
		if err := procs[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i].String())
		}
	}
	rc, err := b.Open(context.Background(), "counter", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if n, _ := strconv.Atoi(string(got)); n != casWriters*casAdds {
		t.Fatalf("counter %q after %d writers x %d additions, want %d: updates were lost", got, casWriters, casAdds, casWriters*casAdds)
	}
}

// TestCASHelperProcess is one writer of TestCompareAndSwapAcrossProcesses;
// run on its own it does nothing.
func TestCASHelperProcess(t *testing.T) {
	dir := os.Getenv(casDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCompareAndSwapAcrossProcesses")
	}
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range casAdds {
		for {
			info, err := b.Stat(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			rc, err := b.Open(ctx, "counter", nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(string(data))
			if err != nil {
				// Read between another writer's Stat and its swap: the
				// ETag seen is stale, so the swap below fails anyway.
				n = -1
			}
			p, err := b.Put(ctx, "counter", bytes.NewReader(fmt.Appendf(nil, "%d", n+1)), bucket.PutOptions{IfMatch: info.ETag})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err == nil {
				break
			} else if !errors.Is(err, bucket.ErrPrecondition) {
				t.Fatal(err)
			}
		}
	}
}
