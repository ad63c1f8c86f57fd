package emulator

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// SetS3PageSize caps the keys per ListBucket page (default 1000), to force
// pagination in tests. Safe to call while requests are served.
func (s *Server) SetS3PageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.s3Page = max(n, 1)
}

// s3ListQuery is a ListObjects (v1) or ListObjectsV2 request.
type s3ListQuery struct {
	q             url.Values
	prefix, delim string
	v2            bool
	maxKeys       int
	after         string // keys at or before this are skipped
}

// s3Item is a key of a listing page, or a common prefix when f is nil.
type s3Item struct {
	key string
	f   *file
}

// serveS3List answers ListObjects (v1) and ListObjectsV2 (list-type=2) for
// the bucket rooted at root, as S3 does: keys in byte order, CommonPrefixes
// when a delimiter is given, NextMarker only with a delimiter (v1 clients
// otherwise continue from the last key), opaque continuation tokens (v2).
func (s *Server) serveS3List(w http.ResponseWriter, r *http.Request, root string, page int) {
	lq, code, msg := parseS3List(r.URL.Query(), page)
	if code != 0 {
		s3Error(w, code, "InvalidArgument", msg)
		return
	}
	s.mu.Lock()
	var refs []fileRef
	for _, fr := range s.tree.filesUnder(root) {
		if fr.f != nil {
			refs = append(refs, fr)
		}
	}
	s.mu.Unlock()
	items, truncated := lq.page(root, refs)
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(lq.render(path.Base(strings.TrimSuffix(root, "/")), items, truncated))
}

// parseS3List reads the request's parameters; a bad one gives the status
// and message S3 answers it with.
func parseS3List(q url.Values, page int) (s3ListQuery, int, string) {
	lq := s3ListQuery{q: q, prefix: q.Get("prefix"), delim: q.Get("delimiter"), v2: q.Get("list-type") == "2", maxKeys: page}
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			return lq, http.StatusBadRequest, "max-keys must be a non-negative integer"
		}
		lq.maxKeys = min(lq.maxKeys, n)
	}
	lq.after = q.Get("marker")
	if lq.v2 {
		lq.after = q.Get("start-after")
		if tok := q.Get("continuation-token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return lq, http.StatusBadRequest, "The continuation token provided is incorrect"
			}
			lq.after = string(raw)
		}
	}
	return lq, 0, ""
}

// page picks the keys and common prefixes of one page from the bucket's
// files (sorted by path) and says whether more follow.
func (lq s3ListQuery) page(root string, refs []fileRef) ([]s3Item, bool) {
	var items []s3Item
	for _, fr := range refs {
		key := strings.TrimPrefix(fr.path, root)
		if !strings.HasPrefix(key, lq.prefix) {
			continue
		}
		it := s3Item{key: key, f: fr.f}
		if lq.delim != "" {
			if i := strings.Index(key[len(lq.prefix):], lq.delim); i >= 0 {
				it = s3Item{key: key[:len(lq.prefix)+i+len(lq.delim)]}
			}
		}
		if it.key <= lq.after {
			continue
		}
		if n := len(items); n > 0 && items[n-1].f == nil && it.f == nil && items[n-1].key == it.key {
			continue
		}
		if len(items) == lq.maxKeys {
			return items, true
		}
		items = append(items, it)
	}
	return items, false
}

// render is the ListBucketResult document of one page.
func (lq s3ListQuery) render(bucket string, items []s3Item, truncated bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	tag := func(name, v string) {
		b.WriteString("<" + name + ">")
		_ = xmlEscapeTo(&b, v)
		b.WriteString("</" + name + ">")
	}
	tag("Name", bucket)
	tag("Prefix", lq.prefix)
	if lq.v2 {
		if tok := lq.q.Get("continuation-token"); tok != "" {
			tag("ContinuationToken", tok)
		}
		if sa := lq.q.Get("start-after"); sa != "" {
			tag("StartAfter", sa)
		}
		tag("KeyCount", strconv.Itoa(len(items)))
	} else {
		tag("Marker", lq.q.Get("marker"))
	}
	last := ""
	if len(items) > 0 {
		last = items[len(items)-1].key
	}
	if truncated && lq.v2 {
		tag("NextContinuationToken", base64.RawURLEncoding.EncodeToString([]byte(last)))
	}
	if truncated && !lq.v2 && lq.delim != "" {
		tag("NextMarker", last)
	}
	tag("MaxKeys", strconv.Itoa(lq.maxKeys))
	if lq.delim != "" {
		tag("Delimiter", lq.delim)
	}
	tag("IsTruncated", strconv.FormatBool(truncated))
	for _, it := range items {
		if it.f != nil {
			b.WriteString("<Contents>")
			tag("Key", it.key)
			tag("LastModified", it.f.modTime.UTC().Format("2006-01-02T15:04:05.000Z"))
			tag("ETag", it.f.etag)
			tag("Size", strconv.FormatInt(it.f.size, 10))
			tag("StorageClass", "STANDARD")
			b.WriteString("</Contents>")
		}
	}
	for _, it := range items {
		if it.f == nil {
			b.WriteString("<CommonPrefixes>")
			tag("Prefix", it.key)
			b.WriteString("</CommonPrefixes>")
		}
	}
	b.WriteString("</ListBucketResult>")
	return b.Bytes()
}

func s3Error(w http.ResponseWriter, code int, s3code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error><Code>%s</Code><Message>%s</Message></Error>", s3code, xmlEscape(msg))
}
