package ingest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	iofs "io/fs"
	"os"
	"path"
	"regexp"
	"sync"
)

// The state journal is how a rerun of pull knows, without re-hashing, that
// a file under --to is one it wrote and verified. It is one JSON Lines file
// per entry, .astroingest/state/<entry>.jsonl, with a line appended after
// each verified file lands under its final name:
//
//	{"key":"climate/x.nc","size":123,"mtime_ns":1700000000123456789,"sha256":"…"}
//
// A file is taken as present and verified when its key's last line
// matches the index row's size and sha256 and the file's own size and
// mtime (nanoseconds) now. Anything that rewrites the file changes its
// mtime, so it is fetched again; a journal lost or damaged costs only
// re-hashing. Plain files rather than extended attributes, because
// user.* xattrs are missing on some filesystems a pod mounts (older
// tmpfs, some overlay and network mounts) while appending to a file works
// everywhere. A journal is read one entry at a time, so what pull holds
// grows with the largest entry (some 90 bytes an object), never with the
// mirror.

// stateLine is one line of a journal.
type stateLine struct {
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

// vouched is a journal line kept in memory: the key only as its hash, so
// that the map does not hold the entry's keys, and the line it came from,
// for compaction.
type vouched struct {
	size, mtime int64
	sha         [sha256.Size]byte
	line        int
}

// entryState is the journal of one entry, loaded for the skip checks and
// open for appending. record is safe for concurrent use.
type entryState struct {
	seen map[uint64]vouched
	mu   sync.Mutex
	f    *os.File
}

var plainEntryID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

// journalName is the entry's journal under the tree. Registry IDs are
// plain; anything else (the catalog is read from the bucket) is hashed
// rather than trusted as a file name.
func journalName(entryID string) string {
	name := entryID
	if !plainEntryID.MatchString(entryID) {
		sum := sha256.Sum256([]byte(entryID))
		name = "x-" + hex.EncodeToString(sum[:16])
	}
	return path.Join(PullStateDir, "state", name+".jsonl")
}

func keyHash(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}

// openEntryState loads the entry's journal (none is an empty one),
// compacts it when most of its lines are superseded, and opens it for
// appending.
func openEntryState(d *localDir, entryID string) (*entryState, error) {
	name := journalName(entryID)
	s := &entryState{seen: map[uint64]vouched{}}
	lines, err := s.load(d, name)
	if err != nil {
		return nil, err
	}
	if lines > 2*len(s.seen)+64 {
		if err := s.compact(d, name); err != nil {
			return nil, err
		}
	}
	f, err := d.root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state journal: %w", err)
	}
	s.f = f
	return s, nil
}

// load reads every line; the last line of a key wins. A line that does not
// parse (a write cut short by a crash) is skipped: it vouches for nothing.
func (s *entryState) load(d *localDir, name string) (int, error) {
	f, err := d.root.Open(name)
	if errors.Is(err, iofs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state journal %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<10+objkeyMaxLine)
	n := 0
	for ; sc.Scan(); n++ {
		var l stateLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		v := vouched{size: l.Size, mtime: l.MtimeNs, line: n}
		if b, err := hex.DecodeString(l.SHA256); err == nil && len(b) == sha256.Size {
			copy(v.sha[:], b)
			s.seen[keyHash(l.Key)] = v
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("state journal %s: %w", name, err)
	}
	return n, nil
}

// objkeyMaxLine bounds a journal line: a key of the S3 maximum, escaped.
const objkeyMaxLine = 6 * 1024

// compact rewrites the journal with only the lines still in force, so that
// a journal does not grow without end over many reruns that re-fetch.
func (s *entryState) compact(d *localDir, name string) error {
	in, err := d.root.Open(name)
	if err != nil {
		return fmt.Errorf("compact state journal %s: %w", name, err)
	}
	defer in.Close()
	tmp := tempName(name)
	out, err := d.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("compact state journal %s: %w", name, err)
	}
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<10+objkeyMaxLine)
	kept := map[uint64]vouched{}
	for n := 0; sc.Scan(); n++ {
		var l stateLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if v, ok := s.seen[keyHash(l.Key)]; ok && v.line == n {
			v.line = len(kept)
			kept[keyHash(l.Key)] = v
			w.Write(sc.Bytes())
			w.WriteByte('\n')
		}
	}
	err = errors.Join(sc.Err(), w.Flush(), out.Close())
	if err == nil {
		err = d.root.Rename(tmp, name)
	}
	if err != nil {
		d.root.Remove(tmp)
		return fmt.Errorf("compact state journal %s: %w", name, err)
	}
	s.seen = kept
	return nil
}

// vouches reports whether the journal's last word on key matches the
// index's size and sha256 and what st says of the file now.
func (s *entryState) vouches(key string, size int64, sha [sha256.Size]byte, st os.FileInfo) bool {
	v, ok := s.seen[keyHash(key)]
	return ok && v.size == size && v.sha == sha && st.Size() == size && st.ModTime().UnixNano() == v.mtime
}

// forget drops the loaded lines once the entry's rows are all dispatched:
// only the appending is left to do.
func (s *entryState) forget() { s.seen = nil }

// record appends that key landed verified, as st describes it. One write
// per line, so that concurrent records never interleave; a line cut short
// by a crash is skipped when read.
func (s *entryState) record(key string, sha string, st os.FileInfo) error {
	line, err := json.Marshal(stateLine{Key: key, Size: st.Size(), MtimeNs: st.ModTime().UnixNano(), SHA256: sha})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("state journal: %w", err)
	}
	return nil
}

func (s *entryState) close() error { return s.f.Close() }
