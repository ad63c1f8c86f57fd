// Package fs is a bucket in a local directory, the embedded default
// (file://./mirror). Objects are plain files at DIR/<key>, so the mirror can
// be read with ordinary tools. Everything the backend needs for itself lives
// under DIR/.astroingest/, which keys may therefore not start with:
//
//	.astroingest/tmp/   staged uploads (temp file, fsync, then rename)
//	.astroingest/meta/  one JSON sidecar per object: content type, metadata, ETag
//
// A staged file is renamed into place only on Commit, so a partial object is
// never visible; a process killed mid-upload leaves only a temp file, which
// CleanStale removes.
//
// New creates the directory and its .astroingest/ folders; Open is for
// commands that only read, and creates nothing.
package fs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	iofs "io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

const (
	reserved = ".astroingest"
	tmpDir   = reserved + "/tmp"
	metaDir  = reserved + "/meta"
)

// ErrReadOnly is returned by the writing methods of a bucket from Open.
var ErrReadOnly = errors.New("bucket opened read-only")

// Bucket is safe for concurrent use.
type Bucket struct {
	root     string
	readOnly bool
}

// Open opens the bucket rooted at dir for reading only, creating nothing:
// plan and verify must leave the disk as they found it. A dir that does not
// exist is an empty bucket; every writing method fails with ErrReadOnly.
func Open(dir string) (*Bucket, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("fs: open %s: %w", abs, err)
	case !st.IsDir():
		return nil, fmt.Errorf("fs: open %s: not a directory", abs)
	}
	return &Bucket{root: abs, readOnly: true}, nil
}

// New opens (creating if needed) a bucket rooted at dir.
func New(dir string) (*Bucket, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: %s: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, tmpDir), filepath.Join(abs, metaDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fs: create %s: %w", d, err)
		}
	}
	return &Bucket{root: abs}, nil
}

// Root is the absolute directory of the bucket.
func (b *Bucket) Root() string { return b.root }

func (b *Bucket) checkWrite(op, key string) error {
	if err := checkKey(op, key); err != nil {
		return err
	}
	if b.readOnly {
		return fmt.Errorf("fs: %s %s: %w", op, key, ErrReadOnly)
	}
	return nil
}

func checkKey(op, key string) error {
	if err := bucket.ValidateKey(key); err != nil {
		return fmt.Errorf("fs: %s: %w", op, err)
	}
	if key == reserved || strings.HasPrefix(key, reserved+"/") {
		return fmt.Errorf("fs: %s: %w", op, &bucket.KeyError{Key: key, Reason: "the " + reserved + "/ prefix is reserved by the filesystem backend"})
	}
	return nil
}

func (b *Bucket) path(key string) string { return filepath.Join(b.root, filepath.FromSlash(key)) }
func (b *Bucket) metaPath(key string) string {
	return filepath.Join(b.root, filepath.FromSlash(metaDir), filepath.FromSlash(key)+".json")
}

// sidecar is what the filesystem cannot hold itself. Size and ModTime are
// recorded so that a sidecar left over from an interrupted commit (meta
// written, rename not done) is recognised as stale and ignored.
type sidecar struct {
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Size        int64             `json:"size"`
}

func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if err := b.checkWrite("put", key); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(b.root, tmpDir), "put-*")
	if err != nil {
		return nil, fmt.Errorf("fs: put %s: %w", key, err)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), bucket.ContextReader(ctx, r))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("fs: put %s: %w", key, err)
	}
	return &pending{b: b, key: key, tmp: f.Name(), size: n, md5: h, opts: opts}, nil
}

type pending struct {
	b    *Bucket
	key  string
	tmp  string
	size int64
	md5  hash.Hash
	opts bucket.PutOptions

	mu   sync.Mutex
	done bool
}

func (p *pending) Size() int64 { return p.size }

func (p *pending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return bucket.ObjectInfo{}, fmt.Errorf("fs: commit %s: already committed or aborted", p.key)
	}
	if err := ctx.Err(); err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("fs: commit %s: %w", p.key, err)
	}
	p.done = true
	meta := sidecar{
		ETag:        hex.EncodeToString(p.md5.Sum(nil)),
		ContentType: p.opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(p.opts.Metadata),
		Size:        p.size,
	}
	info, err := p.b.install(p.key, p.tmp, meta, false)
	if err != nil {
		os.Remove(p.tmp)
		return bucket.ObjectInfo{}, fmt.Errorf("fs: commit %s: %w", p.key, err)
	}
	return info, nil
}

func (p *pending) Abort(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil
	}
	p.done = true
	if err := os.Remove(p.tmp); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("fs: abort %s: %w", p.key, err)
	}
	return nil
}

// install moves a fully written temp file into place. For a plain put the
// sidecar goes first: a crash between the two leaves a sidecar whose size
// does not match (ignored) rather than a visible object without its
// metadata. With exclusive, a hard link is used instead of rename because
// link(2) fails when the target exists, which makes create-if-absent atomic.
func (b *Bucket) install(key, tmp string, meta sidecar, exclusive bool) (bucket.ObjectInfo, error) {
	dst := b.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return bucket.ObjectInfo{}, err
	}
	if exclusive {
		// The loser of a race must not touch the winner's sidecar, so
		// here the link comes first and the sidecar after it.
		if err := os.Link(tmp, dst); err != nil {
			if errors.Is(err, iofs.ErrExist) {
				return bucket.ObjectInfo{}, bucket.ErrExists
			}
			return bucket.ObjectInfo{}, err
		}
		os.Remove(tmp)
		if err := writeFileAtomic(b.metaPath(key), b.root, meta); err != nil {
			return bucket.ObjectInfo{}, err
		}
	} else {
		if err := writeFileAtomic(b.metaPath(key), b.root, meta); err != nil {
			return bucket.ObjectInfo{}, err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return bucket.ObjectInfo{}, err
		}
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	st, err := os.Stat(dst)
	if err != nil {
		return bucket.ObjectInfo{}, err
	}
	return infoFrom(key, st, meta), nil
}

func writeFileAtomic(dst, root string, v any) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(root, tmpDir), "meta-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), dst)
}

func infoFrom(key string, st iofs.FileInfo, meta sidecar) bucket.ObjectInfo {
	info := bucket.ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}
	if meta.Size == st.Size() {
		info.ETag, info.ContentType, info.Metadata = meta.ETag, meta.ContentType, meta.Metadata
	}
	return info
}

func (b *Bucket) readMeta(key string) sidecar {
	var m sidecar
	m.Size = -1
	if data, err := os.ReadFile(b.metaPath(key)); err == nil {
		if json.Unmarshal(data, &m) != nil {
			m = sidecar{Size: -1}
		}
	}
	return m
}

func (b *Bucket) Stat(_ context.Context, key string) (bucket.ObjectInfo, error) {
	if err := checkKey("stat", key); err != nil {
		return bucket.ObjectInfo{}, err
	}
	st, err := os.Stat(b.path(key))
	if err == nil && st.IsDir() {
		err = iofs.ErrNotExist
	}
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, os.ErrInvalid) || isNotDir(err) {
			return bucket.ObjectInfo{}, fmt.Errorf("fs: stat %s: %w", key, iofs.ErrNotExist)
		}
		return bucket.ObjectInfo{}, fmt.Errorf("fs: stat %s: %w", key, err)
	}
	return infoFrom(key, st, b.readMeta(key)), nil
}

func isNotDir(err error) bool {
	var pe *iofs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

func (b *Bucket) Open(_ context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	if err := checkKey("open", key); err != nil {
		return nil, err
	}
	f, err := os.Open(b.path(key))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) || isNotDir(err) {
			return nil, fmt.Errorf("fs: open %s: %w", key, iofs.ErrNotExist)
		}
		return nil, fmt.Errorf("fs: open %s: %w", key, err)
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = iofs.ErrNotExist
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fs: open %s: %w", key, err)
	}
	if rng == nil {
		return f, nil
	}
	lo, hi, err := bucket.Clamp(*rng, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fs: open %s: %w", key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, lo, hi-lo), f}, nil
}

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
			st, err := os.Stat(b.path(k))
			if errors.Is(err, iofs.ErrNotExist) {
				continue // deleted while listing
			}
			if err != nil {
				yield(bucket.ObjectInfo{}, fmt.Errorf("fs: list %q: %w", prefix, err))
				return
			}
			if !yield(infoFrom(k, st, b.readMeta(k)), nil) {
				return
			}
		}
	}
}

func (b *Bucket) Delete(_ context.Context, key string) error {
	if err := b.checkWrite("delete", key); err != nil {
		return err
	}
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

func (b *Bucket) CreateIfAbsent(_ context.Context, key string, data []byte, opts bucket.PutOptions) error {
	if err := b.checkWrite("create", key); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(b.root, tmpDir), "create-*")
	if err != nil {
		return fmt.Errorf("fs: create %s: %w", key, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fs: create %s: %w", key, err)
	}
	if _, err := os.Stat(b.path(key)); err == nil {
		return fmt.Errorf("fs: create %s: %w", key, bucket.ErrExists)
	}
	sum := md5.Sum(data)
	meta := sidecar{ETag: hex.EncodeToString(sum[:]), ContentType: opts.ContentType, Metadata: bucket.NormalizeMetadata(opts.Metadata), Size: int64(len(data))}
	if _, err := b.install(key, f.Name(), meta, true); err != nil {
		return fmt.Errorf("fs: create %s: %w", key, err)
	}
	return nil
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
