package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// List walks only the directory that holds the prefix's last complete
// segment, then sorts, because a directory walk's order ("a/b" before
// "a.txt") is not the byte order of keys that S3 promises.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[bucket.ObjectInfo, error] {
	return func(yield func(bucket.ObjectInfo, error) bool) {
		if err := bucket.ValidatePrefix(prefix); err != nil {
			yield(bucket.ObjectInfo{}, fmt.Errorf("fs: list: %w", err))
			return
		}
		start := b.root
		if i := strings.LastIndex(prefix, "/"); i >= 0 {
			start = b.path(prefix[:i])
		}
		var keys []string
		err := filepath.WalkDir(start, func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, iofs.ErrNotExist) || isNotDir(err) {
					return nil
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, _ := filepath.Rel(b.root, p)
			key := filepath.ToSlash(rel)
			if d.IsDir() {
				if key == reserved {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(key, prefix) {
				keys = append(keys, key)
			}
			return nil
		})
		if err != nil {
			yield(bucket.ObjectInfo{}, fmt.Errorf("fs: list %q: %w", prefix, err))
			return
		}
		slices.Sort(keys)
		for _, k := range keys {
			info, err := b.stat(k)
			if errors.Is(err, iofs.ErrNotExist) {
				continue // deleted while listing
			}
			if err != nil {
				yield(bucket.ObjectInfo{}, fmt.Errorf("fs: list %q: %w", prefix, err))
				return
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

func (b *Bucket) Delete(_ context.Context, key string) error {
	if err := b.checkWrite("delete", key); err != nil {
		return err
	}
	unlock, err := b.lock(key)
	if err != nil {
		return fmt.Errorf("fs: delete %s: %w", key, err)
	}
	defer unlock()
	if err := os.Remove(b.path(key)); err != nil && !errors.Is(err, iofs.ErrNotExist) && !isNotDir(err) {
		return fmt.Errorf("fs: delete %s: %w", key, err)
	}
	os.Remove(b.metaPath(key))
	// Empty parent directories would otherwise accumulate.
	b.pruneDirs(filepath.Dir(b.path(key)), b.root)
	b.pruneDirs(filepath.Dir(b.metaPath(key)), filepath.Join(b.root, filepath.FromSlash(metaDir)))
	return nil
}

// pruneDirs removes dir and its parents while they are empty, up to stop.
func (b *Bucket) pruneDirs(dir, stop string) {
	for ; dir != stop && strings.HasPrefix(dir, stop+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}

// CleanStale removes staged temp files older than cutoff, left by a process
// that died without aborting. Prefix is ignored: temp files carry no key.
func (b *Bucket) CleanStale(ctx context.Context, _ string, cutoff time.Time) (int, error) {
	dir := filepath.Join(b.root, tmpDir)
	if b.readOnly {
		return 0, fmt.Errorf("fs: clean %s: %w", dir, ErrReadOnly)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("fs: clean %s: %w", dir, err)
	}
	n := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}
