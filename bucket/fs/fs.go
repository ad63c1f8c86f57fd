// Package fs is a bucket in a local directory, the embedded default
// (file://./mirror). Objects are plain files at DIR/<key>, so the mirror can
// be read with ordinary tools. Everything the backend needs for itself lives
// under DIR/.astroingest/, which keys may therefore not start with:
//
//	.astroingest/tmp/   staged uploads (temp file, fsync, then rename)
//	.astroingest/meta/  one JSON sidecar per object: content type, metadata, ETag
//	.astroingest/lock/  lock files that serialise the writers of a key
//
// A staged file is renamed into place only on Commit, so a partial object is
// never visible; a process killed mid-upload leaves only a temp file, which
// CleanStale removes.
//
// Every Commit and Delete holds an exclusive flock(2) on the key's lock file
// (one of lockShards, chosen by a hash of the key) while it checks the
// write condition and moves the file into place, so that a conditional
// Commit is atomic with respect to every writer of the key in this process
// and in others on the same machine. (flock is advisory and per open file,
// so goroutines of one process exclude each other too. Over NFS it is only
// as good as the server's locking.)
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
	"hash/fnv"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/astroingest/astroingest/bucket"
)

const (
	reserved = ".astroingest"
	tmpDir   = reserved + "/tmp"
	metaDir  = reserved + "/meta"
	lockDir  = reserved + "/lock"
	// lockShards bounds the lock files: keys share them by hash, which
	// costs only a little needless waiting between writers of different
	// keys.
	lockShards = 64
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
	for _, d := range []string{abs, filepath.Join(abs, tmpDir), filepath.Join(abs, metaDir), filepath.Join(abs, lockDir)} {
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

func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if err := b.checkWrite("put", key); err != nil {
		return nil, err
	}
	if err := bucket.CheckConditions(opts); err != nil {
		return nil, fmt.Errorf("fs: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Join(b.root, tmpDir), "put-*")
	if err != nil {
		return nil, fmt.Errorf("fs: put %s: %w", key, err)
	}
	// The ETag is the MD5 of the bytes. A given ContentMD5 is checked on
	// the way in, and is then that MD5: the bytes are hashed once.
	w, h := io.Writer(f), hash.Hash(nil)
	if len(opts.ContentMD5) == 0 {
		h = md5.New()
		w = io.MultiWriter(f, h)
	}
	n, err := io.Copy(w, bucket.CheckSizeAndDigest(bucket.ContextReader(ctx, r), opts, true))
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
	etag := hex.EncodeToString(opts.ContentMD5)
	if h != nil {
		etag = hex.EncodeToString(h.Sum(nil))
	}
	return &pending{b: b, key: key, tmp: f.Name(), size: n, etag: etag, opts: opts}, nil
}

type pending struct {
	b    *Bucket
	key  string
	tmp  string
	size int64
	etag string
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
		ETag:        p.etag,
		ContentType: p.opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(p.opts.Metadata),
		Size:        p.size,
	}
	info, err := p.b.install(p.key, p.tmp, meta, p.opts)
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

// install moves a fully written temp file into place, if opts' write
// condition holds, under the key's lock. The sidecar goes first, naming the
// temp file's identity (which the rename keeps): a crash between the two
// leaves a sidecar that describes no file in place (see sidecar) rather
// than a visible object without its metadata.
func (b *Bucket) install(key, tmp string, meta sidecar, opts bucket.PutOptions) (bucket.ObjectInfo, error) {
	dst := b.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return bucket.ObjectInfo{}, err
	}
	unlock, err := b.lock(key)
	if err != nil {
		return bucket.ObjectInfo{}, err
	}
	defer unlock()
	if err := b.checkCondition(key, opts); err != nil {
		return bucket.ObjectInfo{}, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return bucket.ObjectInfo{}, err
	}
	meta.identify(st)
	if err := writeFileAtomic(b.metaPath(key), b.root, meta); err != nil {
		return bucket.ObjectInfo{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return bucket.ObjectInfo{}, err
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return bucket.ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime(),
		ETag: meta.ETag, ContentType: meta.ContentType, Metadata: meta.Metadata}, nil
}

// checkCondition evaluates opts' write condition against the object now
// under key, with the ETag that Stat would report. The caller holds the
// key's lock.
func (b *Bucket) checkCondition(key string, opts bucket.PutOptions) error {
	if opts.IfMatch == "" && !opts.IfNoneMatch {
		return nil
	}
	info, err := b.stat(key)
	exists := err == nil
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	if opts.IfNoneMatch && exists || opts.IfMatch != "" && (!exists || info.ETag != opts.IfMatch) {
		return bucket.ErrPrecondition
	}
	return nil
}

// lock takes the exclusive lock of key's lock file and returns its release.
func (b *Bucket) lock(key string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	name := filepath.Join(b.root, filepath.FromSlash(lockDir), fmt.Sprintf("%02d", h.Sum32()%lockShards))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
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

func (b *Bucket) Stat(_ context.Context, key string) (bucket.ObjectInfo, error) {
	if err := checkKey("stat", key); err != nil {
		return bucket.ObjectInfo{}, err
	}
	info, err := b.stat(key)
	if err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("fs: stat %s: %w", key, err)
	}
	return info, nil
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
