package emulator

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ListingStyle is how a directory of the tree is listed.
type ListingStyle int

const (
	// ApacheFancy is Apache mod_autoindex with FancyIndexing in a <pre> block
	// (the default for directories without a configured style).
	ApacheFancy ListingStyle = iota
	// ApacheTable is Apache mod_autoindex with IndexOptions HTMLTable.
	ApacheTable
	// Nginx is nginx autoindex with exact sizes.
	Nginx
	// S3 serves the prefix as an S3 bucket: GET on the prefix root answers
	// ListBucket XML (v1, and v2 with list-type=2), paginated by the page
	// size given to SetS3PageSize.
	S3
	// NoListing answers 403 for directories, as many servers do.
	NoListing
)

// ChecksumFormat is the format of a checksum file built from the tree.
type ChecksumFormat int

const (
	// MD5Sum lines are "<md5>  <name>" (md5sum's text mode, as Gaia's
	// _MD5SUM.txt and most MD5SUM.txt files).
	MD5Sum ChecksumFormat = iota
	// MD5SumDotSlash lines are "<md5>  ./<name>", as NCBI md5checksums.txt.
	MD5SumDotSlash
	// Metalink is UniProt's RELEASE.metalink (metalink 3.0 XML).
	Metalink
)

type file struct {
	data    []byte
	size    int64
	seed    int64
	gen     bool
	modTime time.Time
	etag    string

	once   sync.Once
	md5    string
	sha256 string
}

func (f *file) reader() io.ReadSeeker {
	if f.gen {
		return io.NewSectionReader(genReader{seed: f.seed, size: f.size}, 0, f.size)
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

type checksumFile struct {
	format ChecksumFormat
}

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

// SetListing sets how directories at or below prefix (e.g. "/gaia/") are
// listed; the longest matching prefix wins. For S3 the prefix is the bucket
// root: its listing answers at "<prefix>?list-type=2&prefix=..." and objects
// are "<prefix><key>".
func (s *Server) SetListing(prefix string, style ListingStyle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.listings[dirPath(prefix)] = style
}

// SetS3PageSize caps the keys per ListBucket page (default 1000), to force
// pagination in tests.
func (s *Server) SetS3PageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.s3Page = max(n, 1)
}

// AddChecksumFile makes p a checksum file built on each request from the
// files in p's directory and below (names relative to that directory,
// excluding checksum files), so it always tells the true digests.
func (s *Server) AddChecksumFile(p string, format ChecksumFormat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.checksums[cleanPath(p)] = checksumFile{format: format}
}

func dirPath(p string) string {
	p = cleanPath(p)
	if p != "/" {
		p += "/"
	}
	return p
}

// entry is one child of a listed directory.
type dirEntry struct {
	name    string // no trailing slash
	dir     bool
	size    int64
	modTime time.Time
}

// snapshot is an immutable view of the parts of the tree one request needs,
// taken under the lock so that rendering runs without it.
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

func (t *tree) styleFor(dir string) (string, ListingStyle) {
	best, style := "", ApacheFancy
	for p, st := range t.listings {
		if strings.HasPrefix(dir, p) && len(p) > len(best) {
			best, style = p, st
		}
	}
	return best, style
}

func (s *Server) serveTree(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	s.mu.Lock()
	f := s.tree.files[p]
	ck, isCk := s.tree.checksums[p]
	summary, isSummary := s.tree.summaries[p]
	root, style := s.tree.styleFor(dirPath(p))
	var under []fileRef
	if f == nil {
		under = s.tree.filesUnder(dirPath(p))
	}
	page := s.tree.s3Page
	s.mu.Unlock()

	switch {
	case f != nil:
		serveFile(w, r, path.Base(p), f)
		return
	case isCk:
		body, mod := s.renderChecksums(path.Dir(p)+"/", ck.format)
		serveBytes(w, r, path.Base(p), body, mod)
		return
	case isSummary:
		body, mod := s.renderAssemblySummary(summary)
		serveBytes(w, r, path.Base(p), body, mod)
		return
	}
	if style == S3 && dirPath(p) == root {
		s.serveS3List(w, r, root, page)
		return
	}
	if len(under) == 0 || style == S3 {
		http.NotFound(w, r)
		return
	}
	if !strings.HasSuffix(p, "/") {
		// Like Apache and nginx: a directory without its slash redirects.
		http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
		return
	}
	if style == NoListing {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	entries := s.children(p, under)
	var body []byte
	switch style {
	case ApacheTable:
		body = renderApache(p, entries, true)
	case Nginx:
		body = renderNginx(p, entries)
	default:
		body = renderApache(p, entries, false)
	}
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	_, _ = w.Write(body)
}

// children lists the immediate children of dir, given the files below it.
func (s *Server) children(dir string, under []fileRef) []dirEntry {
	seen := map[string]int{}
	var out []dirEntry
	for _, fr := range under {
		rel := strings.TrimPrefix(fr.path, dir)
		name, _, isDir := strings.Cut(rel, "/")
		var size int64 = -1
		mod := time.Unix(1700000000, 0).UTC()
		if !isDir && fr.f != nil {
			size, mod = fr.f.size, fr.f.modTime
		}
		if i, ok := seen[name]; ok {
			if mod.After(out[i].modTime) {
				out[i].modTime = mod
			}
			continue
		}
		seen[name] = len(out)
		out = append(out, dirEntry{name: name, dir: isDir, size: size, modTime: mod})
	}
	return out
}

func serveFile(w http.ResponseWriter, r *http.Request, name string, f *file) {
	w.Header().Set("ETag", f.etag)
	if f.gen {
		// Avoid content sniffing, which would read the generated bytes twice.
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, name, f.modTime, f.reader())
}

func serveBytes(w http.ResponseWriter, r *http.Request, name string, body []byte, mod time.Time) {
	sum := md5.Sum(body)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	if strings.HasSuffix(name, ".txt") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	http.ServeContent(w, r, name, mod, bytes.NewReader(body))
}

// renderChecksums builds a checksum file for the files below dir.
func (s *Server) renderChecksums(dir string, format ChecksumFormat) ([]byte, time.Time) {
	s.mu.Lock()
	var refs []fileRef
	for _, fr := range s.tree.filesUnder(dir) {
		if _, isCk := s.tree.checksums[fr.path]; isCk || fr.f == nil {
			continue
		}
		refs = append(refs, fr)
	}
	s.mu.Unlock()

	var mod time.Time
	var b bytes.Buffer
	if format == Metalink {
		b.WriteString(metalinkHead)
	}
	for _, fr := range refs {
		rel := strings.TrimPrefix(fr.path, dir)
		m, _ := fr.f.sums()
		if fr.f.modTime.After(mod) {
			mod = fr.f.modTime
		}
		switch format {
		case MD5Sum:
			fmt.Fprintf(&b, "%s  %s\n", m, rel)
		case MD5SumDotSlash:
			fmt.Fprintf(&b, "%s  ./%s\n", m, rel)
		case Metalink:
			fmt.Fprintf(&b, metalinkFile, xmlEscape(rel), fr.f.size, m, xmlEscape(rel), xmlEscape(rel), xmlEscape(rel))
		}
	}
	if format == Metalink {
		b.WriteString(metalinkTail)
	}
	return b.Bytes(), mod
}

// The shape UniProt publishes at
// https://ftp.uniprot.org/pub/databases/uniprot/current_release/knowledgebase/complete/RELEASE.metalink:
// metalink 3.0, one <file> per download, md5 under <verification>, and only
// ftp:// mirrors under <resources>.
const metalinkHead = `<?xml version="1.0" encoding="UTF-8"?>
<metalink xmlns="http://www.metalinker.org/" version="3.0">
 <publisher>
  <name>UniProt Consortium</name>
  <url>http://www.uniprot.org</url>
 </publisher>
 <files>
`

const metalinkFile = `  <file name="%s">
   <size>%d</size>
   <verification>
    <hash type="md5">%s</hash>
   </verification>
   <resources>
    <url location="ch">ftp://ftp.expasy.org/databases/uniprot/current_release/knowledgebase/complete/%s</url>
    <url location="uk">ftp://ftp.ebi.ac.uk/pub/databases/uniprot/current_release/knowledgebase/complete/%s</url>
    <url location="us">ftp://ftp.uniprot.org/pub/databases/uniprot/current_release/knowledgebase/complete/%s</url>
   </resources>
  </file>
`

const metalinkTail = ` </files>
</metalink>
`

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xmlEscapeTo(&b, s)
	return b.String()
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

// ---- directory listings ----

func humanSize(n int64) string {
	// Apache's apr_strfsize: bytes below 973, then K/M/G with one decimal
	// below 9.95 units and none above.
	if n < 0 {
		return "  - "
	}
	if n < 973 {
		return fmt.Sprintf("%3d ", n)
	}
	units := "KMGTPE"
	v := float64(n)
	for i := 0; i < len(units); i++ {
		v /= 1024
		if v < 9.95 {
			return fmt.Sprintf("%.1f%c", v, units[i])
		}
		if v < 973 || i == len(units)-1 {
			return fmt.Sprintf("%3d%c", int64(v+0.5), units[i])
		}
	}
	return "?"
}

func padRight(s string, width int) string {
	if n := width - len(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

// hrefEscape percent-encodes a path for an href, keeping '/' and the
// characters Apache and nginx leave alone.
func hrefEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/!$'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// renderApache renders mod_autoindex output as Apache 2.4 does with
// FancyIndexing, in its <pre> form or (table) its HTMLTable form. Long names
// are cut in the text with "..&gt;" while the href keeps the full name.
func renderApache(dir string, entries []dirEntry, table bool) []byte {
	var b bytes.Buffer
	title := xmlEscape(strings.TrimSuffix(dir, "/"))
	if title == "" {
		title = "/"
	}
	parent := path.Dir(strings.TrimSuffix(dir, "/"))
	if parent != "/" {
		parent += "/"
	}
	fmt.Fprintf(&b, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index of %s</title>\n </head>\n <body>\n<h1>Index of %s</h1>\n", title, title)
	const nameWidth = 23
	if table {
		b.WriteString("  <table>\n   <tr><th valign=\"top\"><img src=\"/icons/blank.gif\" alt=\"[ICO]\"></th><th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th><th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n   <tr><th colspan=\"5\"><hr></th></tr>\n")
		fmt.Fprintf(&b, "<tr><td valign=\"top\"><img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"></td><td><a href=\"%s\">Parent Directory</a></td><td>&nbsp;</td><td align=\"right\">  - </td><td>&nbsp;</td></tr>\n", hrefEscape(parent))
		for _, e := range entries {
			icon, alt, href := "/icons/unknown.gif", "[   ]", hrefEscape(e.name)
			if e.dir {
				icon, alt, href = "/icons/folder.gif", "[DIR]", href+"/"
			}
			text, _ := apacheName(e, nameWidth)
			fmt.Fprintf(&b, "<tr><td valign=\"top\"><img src=\"%s\" alt=\"%s\"></td><td><a href=\"%s\">%s</a></td><td align=\"right\">%s  </td><td align=\"right\">%s</td><td>&nbsp;</td></tr>\n",
				icon, alt, href, text, e.modTime.Format("2006-01-02 15:04"), strings.TrimSpace(humanSize(sizeOrDash(e))))
		}
		b.WriteString("   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n")
	} else {
		b.WriteString("<pre><img src=\"/icons/blank.gif\" alt=\"Icon \"> <a href=\"?C=N;O=D\">Name</a>                    <a href=\"?C=M;O=A\">Last modified</a>      <a href=\"?C=S;O=A\">Size</a>  <a href=\"?C=D;O=A\">Description</a><hr>")
		fmt.Fprintf(&b, "<img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"> <a href=\"%s\">Parent Directory</a>                             -   \n", hrefEscape(parent))
		for _, e := range entries {
			icon, alt, href := "/icons/unknown.gif", "[   ]", hrefEscape(e.name)
			if e.dir {
				icon, alt, href = "/icons/folder.gif", "[DIR]", href+"/"
			}
			text, width := apacheName(e, nameWidth)
			fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\"> <a href=\"%s\">%s</a>%s %s  %s  \n",
				icon, alt, href, text, strings.Repeat(" ", nameWidth-width), e.modTime.Format("2006-01-02 15:04"), humanSize(sizeOrDash(e)))
		}
		b.WriteString("<hr></pre>\n")
	}
	b.WriteString("<address>Apache/2.4.62 (Unix) Server at 127.0.0.1 Port 80</address>\n</body></html>\n")
	return b.Bytes()
}

func sizeOrDash(e dirEntry) int64 {
	if e.dir {
		return -1
	}
	return e.size
}

// apacheName is the displayed (escaped) name and its visible width.
func apacheName(e dirEntry, width int) (string, int) {
	n := e.name
	if e.dir {
		n += "/"
	}
	if len(n) > width {
		return xmlEscape(n[:width-3]) + "..&gt;", width
	}
	return xmlEscape(n), len(n)
}

// renderNginx renders ngx_http_autoindex_module's HTML with
// autoindex_exact_size on: names cut at 50 columns with "..&gt;", dates as
// 02-Jan-2006 15:04, sizes right-aligned in 19 columns, "-" for directories.
func renderNginx(dir string, entries []dirEntry) []byte {
	var b bytes.Buffer
	t := xmlEscape(dir)
	fmt.Fprintf(&b, "<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\r\n", t, t)
	const nameLen = 50
	// nginx lists directories first.
	sorted := append([]dirEntry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].dir && !sorted[j].dir })
	for _, e := range sorted {
		n := e.name
		href := hrefEscape(n)
		if e.dir {
			n += "/"
			href += "/"
		}
		text, width := xmlEscape(n), len(n)
		if width > nameLen {
			text, width = xmlEscape(n[:nameLen-3])+"..&gt;", nameLen
		}
		size := fmt.Sprintf("%19d", e.size)
		if e.dir {
			size = fmt.Sprintf("%19s", "-")
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>%s %s %s\r\n", href, text, strings.Repeat(" ", nameLen-width), e.modTime.Format("02-Jan-2006 15:04"), size)
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return b.Bytes()
}

func xmlEscapeTo(w io.Writer, s string) error { return xml.EscapeText(w, []byte(s)) }

// serveS3List answers ListObjects (v1) and ListObjectsV2 (list-type=2) for
// the bucket rooted at root, as S3 does: keys in byte order, CommonPrefixes
// when a delimiter is given, NextMarker only with a delimiter (v1 clients
// otherwise continue from the last key), opaque continuation tokens (v2).
func (s *Server) serveS3List(w http.ResponseWriter, r *http.Request, root string, page int) {
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	v2 := q.Get("list-type") == "2"
	maxKeys := page
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			s3Error(w, http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer")
			return
		}
		maxKeys = min(maxKeys, n)
	}
	after := q.Get("marker")
	if v2 {
		after = q.Get("start-after")
		if tok := q.Get("continuation-token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				s3Error(w, http.StatusBadRequest, "InvalidArgument", "The continuation token provided is incorrect")
				return
			}
			after = string(raw)
		}
	}

	s.mu.Lock()
	var refs []fileRef
	for _, fr := range s.tree.filesUnder(root) {
		if fr.f != nil {
			refs = append(refs, fr)
		}
	}
	s.mu.Unlock()

	type item struct {
		key string
		f   *file // nil for a common prefix
	}
	var items []item
	truncated := false
	for _, fr := range refs {
		key := strings.TrimPrefix(fr.path, root)
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		it := item{key: key, f: fr.f}
		if delim != "" {
			if i := strings.Index(key[len(prefix):], delim); i >= 0 {
				it = item{key: key[:len(prefix)+i+len(delim)]}
			}
		}
		if it.key <= after {
			continue
		}
		if n := len(items); n > 0 && items[n-1].f == nil && it.f == nil && items[n-1].key == it.key {
			continue
		}
		if len(items) == maxKeys {
			truncated = true
			break
		}
		items = append(items, it)
	}

	bucket := path.Base(strings.TrimSuffix(root, "/"))
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	tag := func(name, v string) {
		b.WriteString("<" + name + ">")
		_ = xmlEscapeTo(&b, v)
		b.WriteString("</" + name + ">")
	}
	tag("Name", bucket)
	tag("Prefix", prefix)
	if v2 {
		if tok := q.Get("continuation-token"); tok != "" {
			tag("ContinuationToken", tok)
		}
		if sa := q.Get("start-after"); sa != "" {
			tag("StartAfter", sa)
		}
		tag("KeyCount", strconv.Itoa(len(items)))
	} else {
		tag("Marker", q.Get("marker"))
	}
	last := ""
	if len(items) > 0 {
		last = items[len(items)-1].key
	}
	if truncated && v2 {
		tag("NextContinuationToken", base64.RawURLEncoding.EncodeToString([]byte(last)))
	}
	if truncated && !v2 && delim != "" {
		tag("NextMarker", last)
	}
	tag("MaxKeys", strconv.Itoa(maxKeys))
	if delim != "" {
		tag("Delimiter", delim)
	}
	tag("IsTruncated", strconv.FormatBool(truncated))
	for _, it := range items {
		if it.f == nil {
			continue
		}
		b.WriteString("<Contents>")
		tag("Key", it.key)
		tag("LastModified", it.f.modTime.UTC().Format("2006-01-02T15:04:05.000Z"))
		tag("ETag", it.f.etag)
		tag("Size", strconv.FormatInt(it.f.size, 10))
		tag("StorageClass", "STANDARD")
		b.WriteString("</Contents>")
	}
	for _, it := range items {
		if it.f == nil {
			b.WriteString("<CommonPrefixes>")
			tag("Prefix", it.key)
			b.WriteString("</CommonPrefixes>")
		}
	}
	b.WriteString("</ListBucketResult>")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(b.Bytes())
}

func s3Error(w http.ResponseWriter, code int, s3code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message></Error>", s3code, xmlEscape(msg))
}

// ---- NCBI assembly_summary.txt ----

// Assembly is one row of an emulated NCBI assembly_summary.txt.
type Assembly struct {
	Accession string // e.g. GCF_000001405.40
	AsmName   string // e.g. GRCh38.p14
	// Fields sets other columns by their header name (e.g. "refseq_category":
	// "reference genome", "organism_name": "Homo sapiens"). Setting "ftp_path"
	// to "na" gives a row without a directory, as NCBI has for suppressed
	// assemblies. Unset columns are "na" or plausible values.
	Fields map[string]string
}

// AssemblySummaryColumns are the columns of assembly_summary.txt in order,
// as in https://ftp.ncbi.nlm.nih.gov/genomes/README_assembly_summary.txt.
var AssemblySummaryColumns = []string{
	"assembly_accession", "bioproject", "biosample", "wgs_master", "refseq_category",
	"taxid", "species_taxid", "organism_name", "infraspecific_name", "isolate",
	"version_status", "assembly_level", "release_type", "genome_rep", "seq_rel_date",
	"asm_name", "asm_submitter", "gbrs_paired_asm", "paired_asm_comp", "ftp_path",
	"excluded_from_refseq", "relation_to_type_material", "asm_not_live_date",
	"assembly_type", "group", "genome_size", "genome_size_ungapped", "gc_percent",
	"replicon_count", "scaffold_count", "contig_count", "annotation_provider",
	"annotation_name", "annotation_date", "total_gene_count",
	"protein_coding_gene_count", "non_coding_gene_count", "pubmed_id",
}

// AssemblyDir is the assembly's directory as NCBI lays it out, e.g.
// /genomes/all/GCF/000/001/405/GCF_000001405.40_GRCh38.p14.
func AssemblyDir(accession, asmName string) string {
	prefix, rest, _ := strings.Cut(accession, "_")
	digits, _, _ := strings.Cut(rest, ".")
	for len(digits) < 9 {
		digits = "0" + digits
	}
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == '#' || r == ',' {
			return '_'
		}
		return r
	}, asmName)
	return fmt.Sprintf("/genomes/all/%s/%s/%s/%s/%s_%s", prefix, digits[0:3], digits[3:6], digits[6:9], accession, name)
}

// AddAssemblySummary serves p as an assembly_summary.txt listing these
// assemblies, with ftp_path pointing into this server, and makes
// md5checksums.txt ("<md5>  ./<name>") available in each assembly directory.
// The files themselves are added with AddFile under AssemblyDir.
func (s *Server) AddAssemblySummary(p string, assemblies []Assembly) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.summaries[cleanPath(p)] = append([]Assembly(nil), assemblies...)
	for _, a := range assemblies {
		if a.Fields["ftp_path"] == "na" {
			continue
		}
		s.tree.checksums[AssemblyDir(a.Accession, a.AsmName)+"/md5checksums.txt"] = checksumFile{format: MD5SumDotSlash}
	}
}

func (s *Server) renderAssemblySummary(as []Assembly) ([]byte, time.Time) {
	var b bytes.Buffer
	b.WriteString("#   See ftp://ftp.ncbi.nlm.nih.gov/genomes/README_assembly_summary.txt for a description of the columns in this file.\n")
	b.WriteString("#" + strings.Join(AssemblySummaryColumns, "\t") + "\n")
	for _, a := range as {
		row := make([]string, len(AssemblySummaryColumns))
		for i, col := range AssemblySummaryColumns {
			v, ok := a.Fields[col]
			if !ok {
				v = assemblyDefault(col, a, s.URL())
			}
			row[i] = v
		}
		b.WriteString(strings.Join(row, "\t") + "\n")
	}
	return b.Bytes(), time.Unix(1700000000, 0).UTC()
}

func assemblyDefault(col string, a Assembly, base string) string {
	switch col {
	case "assembly_accession":
		return a.Accession
	case "asm_name":
		return a.AsmName
	case "ftp_path":
		return base + AssemblyDir(a.Accession, a.AsmName)
	case "refseq_category":
		return "representative genome"
	case "version_status":
		return "latest"
	case "assembly_level":
		return "Complete Genome"
	case "release_type":
		return "Major"
	case "genome_rep":
		return "Full"
	case "seq_rel_date":
		return "2023/11/14"
	case "assembly_type":
		return "haploid"
	case "group":
		return "bacteria"
	case "excluded_from_refseq", "relation_to_type_material", "asm_not_live_date":
		return "na"
	}
	return "na"
}
