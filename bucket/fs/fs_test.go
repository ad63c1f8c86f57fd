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
	fb, ok := bucket.As[*fs.Bucket](b)
	if !ok {
		t.Fatalf("no *fs.Bucket under %T", b)
	}
	ents, err := os.ReadDir(filepath.Join(fb.Root(), ".astroingest", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConformance(t *testing.T) {
	buckettest.RunStacks(t, func(t *testing.T) bucket.Bucket {
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
	if err := bucket.CreateIfAbsent(ctx, b, "a/b/c/obj", []byte("x"), bucket.PutOptions{}); err != nil {
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

// Open is for commands that only read (plan, verify): it creates nothing,
// not even for a directory that does not exist, and refuses every write.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mirror")
		b, err := fs.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "annotations/catalog.json"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stat: %v, want ErrNotExist", err)
		}
		n := 0
		for _, err := range b.List(ctx, "annotations/") {
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			n++
		}
		if n != 0 {
			t.Errorf("List of a missing dir yielded %d objects", n)
		}
		writes := []struct {
			name string
			err  error
		}{
			{"Put", func() error { _, err := b.Put(ctx, "x/y", strings.NewReader("data"), bucket.PutOptions{}); return err }()},
			{"CreateIfAbsent", bucket.CreateIfAbsent(ctx, b, "x/y", []byte("data"), bucket.PutOptions{})},
			{"Delete", b.Delete(ctx, "x/y")},
			{"CleanStale", func() error { _, err := b.CleanStale(ctx, "", time.Now()); return err }()},
		}
		for _, w := range writes {
			if !errors.Is(w.err, fs.ErrReadOnly) {
				t.Errorf("%s: %v, want ErrReadOnly", w.name, w.err)
			}
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open created %s (%v)", dir, err)
		}
	})
	t.Run("existing bucket", func(t *testing.T) {
		dir := t.TempDir()
		w, err := fs.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := bucket.CreateIfAbsent(ctx, w, "x/y", []byte("data"), bucket.PutOptions{ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
		b, err := fs.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.Stat(ctx, "x/y")
		if err != nil || info.Size != 4 || info.ContentType != "text/plain" {
			t.Fatalf("Stat through Open: %+v, %v", info, err)
		}
		if err := b.Delete(ctx, "x/y"); !errors.Is(err, fs.ErrReadOnly) {
			t.Fatalf("Delete: %v, want ErrReadOnly", err)
		}
		if _, err := w.Stat(ctx, "x/y"); err != nil {
			t.Fatalf("the object is gone after a refused Delete: %v", err)
		}
	})
	t.Run("file, not a directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Open(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("Open(%s): %v, want an error naming it", p, err)
		}
	})
}
