package fs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/fs"
)

func tmpFiles(t *testing.T, b bucket.Bucket) int {
	ents, err := os.ReadDir(filepath.Join(b.(*fs.Bucket).Root(), ".astroingest", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConformance(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) bucket.Bucket {
		b, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, buckettest.Options{Leftovers: tmpFiles})
}

func TestReservedPrefix(t *testing.T) {
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ke *bucket.KeyError
	if _, err := b.Stat(context.Background(), ".astroingest/meta/x.json"); !errors.As(err, &ke) {
		t.Fatalf("Stat on the reserved prefix: %v, want *bucket.KeyError", err)
	}
}

// A crash after the temp file is written but before Commit leaves a temp
// file behind; CleanStale removes it once it is older than the cutoff.
func TestCleanStale(t *testing.T) {
	ctx := context.Background()
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Put(ctx, "x/y", strings.NewReader("partial"), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = p // never committed nor aborted: the process "died"
	if n, err := b.CleanStale(ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("CleanStale with an old cutoff removed %d (%v), want 0", n, err)
	}
	if n, err := b.CleanStale(ctx, "", time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("CleanStale removed %d (%v), want 1", n, err)
	}
	if n := tmpFiles(t, b); n != 0 {
		t.Fatalf("%d temp files left", n)
	}
}

func TestDeletePrunesEmptyDirs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateIfAbsent(ctx, "a/b/c/obj", []byte("x"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/b/c/obj"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(root, "a"), filepath.Join(root, ".astroingest", "meta", "a")} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after its only object was deleted (%v)", dir, err)
		}
	}
}
