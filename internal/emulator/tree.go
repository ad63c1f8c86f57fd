package emulator

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// file is one file of the tree. It is immutable once in the tree (but for
// its lazily computed sums): changes replace it, so requests being served
// keep a consistent view.
type file struct {
	data    []byte
	size    int64
	seed    int64
	gen     bool
	modTime time.Time
	etag    string
	// dynamic files are answered as a script's output: no validators.
	dynamic bool

	once   sync.Once
	md5    string
	sha256 string
}

func (f *file) reader() io.ReadSeeker {
	if f.gen {
		return newGenSection(f.seed, f.size)
	}
	return bytes.NewReader(f.data)
}

func (f *file) sums() (md5hex, sha256hex string) {
	f.once.Do(func() {
		m, s := md5.New(), sha256.New()
		_, _ = io.Copy(io.MultiWriter(m, s), f.reader())
		f.md5 = hex.EncodeToString(m.Sum(nil))
		f.sha256 = hex.EncodeToString(s.Sum(nil))
	})
	return f.md5, f.sha256
}

// tree is the Server's file tree; the Server's mutex guards it.
type tree struct {
	files     map[string]*file
	checksums map[string]checksumFile
	summaries map[string][]Assembly
	listings  map[string]ListingStyle
	s3Page    int
}

func (t *tree) init() {
	t.files = map[string]*file{}
	t.checksums = map[string]checksumFile{}
	t.summaries = map[string][]Assembly{}
	t.listings = map[string]ListingStyle{}
	t.s3Page = 1000
}

func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// AddFile adds (or replaces) a file at path with its content and mtime.
// Its ETag is the quoted md5 of the content, as S3 gives for simple uploads.
func (s *Server) AddFile(p string, data []byte, modTime time.Time) {
	sum := md5.Sum(data)
	f := &file{data: bytes.Clone(data), size: int64(len(data)), modTime: modTime.UTC().Truncate(time.Second)}
	f.etag = `"` + hex.EncodeToString(sum[:]) + `"`
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.files[cleanPath(p)] = f
}

// SetFile changes a file's content and mtime (a publisher updating a file).
func (s *Server) SetFile(p string, data []byte, modTime time.Time) { s.AddFile(p, data, modTime) }

// AddGenerated adds a file of size deterministic pseudo-random bytes derived
// from seed. They are produced while streaming and never held in memory, so
// objects of several GiB cost nothing until they are read.
func (s *Server) AddGenerated(p string, size int64, seed int64) {
	f := &file{size: size, seed: seed, gen: true, modTime: time.Unix(1700000000, 0).UTC()}
	f.etag = fmt.Sprintf(`"gen-%x-%x"`, size, seed)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.files[cleanPath(p)] = f
}

// SetDynamic makes the file at p answer as dynamic pages (CGI scripts,
// some download services) do: no ETag, Last-Modified or Accept-Ranges, and
// Range and conditional headers ignored, so a broken download can only
// start again from the first byte and a rerun cannot ask conditionally.
// It does nothing when p is not a file.
func (s *Server) SetDynamic(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.tree.files[cleanPath(p)]
	if f == nil {
		return
	}
	s.tree.files[cleanPath(p)] = &file{data: f.data, size: f.size, seed: f.seed, gen: f.gen, modTime: f.modTime, etag: f.etag, dynamic: true}
}

// RemoveFile deletes a file from the tree.
func (s *Server) RemoveFile(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tree.files, cleanPath(p))
}

// MD5 is the lower-case hex md5 of the file's true content ("" if absent).
// For generated files the first call reads the whole content.
func (s *Server) MD5(p string) string {
	f := s.lookup(p)
	if f == nil {
		return ""
	}
	m, _ := f.sums()
	return m
}

// SHA256 is the lower-case hex sha256 of the file's true content ("" if absent).
func (s *Server) SHA256(p string) string {
	f := s.lookup(p)
	if f == nil {
		return ""
	}
	_, h := f.sums()
	return h
}

// Size is the file's size, -1 if absent.
func (s *Server) Size(p string) int64 {
	f := s.lookup(p)
	if f == nil {
		return -1
	}
	return f.size
}

func (s *Server) lookup(p string) *file {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree.files[cleanPath(p)]
}

func dirPath(p string) string {
	p = cleanPath(p)
	if p != "/" {
		p += "/"
	}
	return p
}

// fileRef is a file of the tree by its path; f is nil for a file built on
// request (a checksum file or assembly summary).
type fileRef struct {
	path string
	f    *file
}

// filesUnder returns the files below dir (which ends in "/"), sorted by path.
func (t *tree) filesUnder(dir string) []fileRef {
	var out []fileRef
	for p, f := range t.files {
		if strings.HasPrefix(p, dir) {
			out = append(out, fileRef{p, f})
		}
	}
	for p := range t.checksums {
		if strings.HasPrefix(p, dir) {
			if _, real := t.files[p]; !real {
				out = append(out, fileRef{p, nil})
			}
		}
	}
	for p := range t.summaries {
		if strings.HasPrefix(p, dir) {
			out = append(out, fileRef{p, nil})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// newGenSection reads size generated bytes of seed, seekable.
func newGenSection(seed, size int64) *io.SectionReader {
	return io.NewSectionReader(genReader{seed: seed, size: size}, 0, size)
}

// genReader yields deterministic bytes: word i of the content is
// splitmix64(seed ^ i*golden), so any offset can be produced directly.
type genReader struct {
	seed int64
	size int64
}

func (g genReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > g.size-off {
		n = int(g.size - off)
	}
	var word [8]byte
	i := 0
	for i < n {
		pos := off + int64(i)
		w := splitmix64(uint64(g.seed) ^ uint64(pos/8)*0x9e3779b97f4a7c15)
		if pos%8 == 0 && n-i >= 8 {
			binary.LittleEndian.PutUint64(p[i:], w)
			i += 8
			continue
		}
		binary.LittleEndian.PutUint64(word[:], w)
		i += copy(p[i:n], word[pos%8:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
