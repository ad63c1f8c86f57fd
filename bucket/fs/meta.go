package fs

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/astroingest/astroingest/bucket"
)

// sidecar is what the filesystem cannot hold itself. It also names the
// data file it describes, by size, inode and modification time (a rename
// keeps all three), because it is written just before its file is renamed
// into place: a reader between the two steps, and any reader after a crash
// between them, finds a sidecar that does not describe the file in place.
// Sidecars of older versions have no inode and time; they are matched by
// size alone.
type sidecar struct {
	ETag        string            `json:"etag"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Size        int64             `json:"size"`
	Ino         uint64            `json:"ino,omitempty"`
	ModTimeNs   int64             `json:"mtime_ns,omitempty"`
}

// identify records st, the staged file's, as the file m describes.
func (m *sidecar) identify(st iofs.FileInfo) {
	m.Size, m.Ino, m.ModTimeNs = st.Size(), fileID(st), st.ModTime().UnixNano()
}

func (m sidecar) describes(st iofs.FileInfo) bool {
	if m.Size != st.Size() {
		return false
	}
	if m.Ino == 0 && m.ModTimeNs == 0 {
		return true
	}
	return m.Ino == fileID(st) && m.ModTimeNs == st.ModTime().UnixNano()
}

// readMeta reads key's sidecar; ok is false when there is none (or it is
// unreadable).
func (b *Bucket) readMeta(key string) (m sidecar, ok bool) {
	data, err := os.ReadFile(b.metaPath(key))
	if err != nil || json.Unmarshal(data, &m) != nil {
		return sidecar{}, false
	}
	return m, true
}

// stat returns the info of the object at key, or an error matching
// fs.ErrNotExist. Its ETag is always that of one version of the bytes,
// the one open at the time, even while a Commit of the key is under way:
// compare-and-swap (PutOptions.IfMatch) depends on that. A file whose
// sidecar describes another version has its ETag hashed from the bytes
// (the ETag is their MD5); a file without a sidecar (not written by this
// backend) has none.
func (b *Bucket) stat(key string) (bucket.ObjectInfo, error) {
	f, err := os.Open(b.path(key))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, os.ErrInvalid) || isNotDir(err) {
			return bucket.ObjectInfo{}, iofs.ErrNotExist
		}
		return bucket.ObjectInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return bucket.ObjectInfo{}, err
	}
	if st.IsDir() {
		return bucket.ObjectInfo{}, iofs.ErrNotExist
	}
	info := bucket.ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}
	meta, ok := b.readMeta(key)
	switch {
	case ok && meta.describes(st):
		info.ETag, info.ContentType, info.Metadata = meta.ETag, meta.ContentType, meta.Metadata
	case ok:
		h := md5.New()
		if _, err := io.Copy(h, f); err != nil {
			return bucket.ObjectInfo{}, fmt.Errorf("hash: %w", err)
		}
		info.ETag = hex.EncodeToString(h.Sum(nil))
	}
	return info, nil
}
