package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// nullS3 is the fast bucket of the scale runs: an S3 API on loopback, in
// the benchmark's own process (so its memory is not the engine's), that
// keeps each object's key, size and ETag and discards its bytes. Real
// stores (a file:// directory, versitygw) spend milliseconds per object
// on fsync or files, which at a million objects would measure the disk,
// not the engine. It speaks the subset the engine uses: PUT, multipart
// uploads, HEAD, GET (of metadata-only objects, annotations), DELETE and
// ListObjectsV2 with pagination.
type nullS3 struct {
	mu      sync.Mutex
	objects map[string]nullObject
	// keep holds the bytes of small objects under annotations/, which the
	// engine reads back (heads, parts, the catalog).
	keep    map[string][]byte
	uploads map[string]map[int]nullObject
	next    int
	// sorted is the keys in order, rebuilt after writes: a listing of a
	// million keys pages through it without sorting each page.
	sorted []string
	dirty  bool
	srv    *http.Server
	ln     net.Listener
}

type nullObject struct {
	size int64
	etag string
	mod  time.Time
}

func startNullS3() (*nullS3, error) {
	s := &nullS3{objects: map[string]nullObject{}, keep: map[string][]byte{}, uploads: map[string]map[int]nullObject{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *nullS3) endpoint() string { return "http://" + s.ln.Addr().String() }
func (s *nullS3) close()           { _ = s.srv.Close() }

func (s *nullS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Path style: /bucket/key.
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		s.list(w, q)
	case r.Method == http.MethodGet && key == "" && q.Has("uploads"):
		fmt.Fprint(w, `<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`)
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.mu.Lock()
		s.next++
		id := strconv.Itoa(s.next)
		s.uploads[id] = map[int]nullObject{}
		s.mu.Unlock()
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, xmlEscape(key), id)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		n, sum := drain(r.Body)
		part, _ := strconv.Atoi(q.Get("partNumber"))
		s.mu.Lock()
		if u := s.uploads[q.Get("uploadId")]; u != nil {
			u[part] = nullObject{size: n, etag: sum}
		}
		s.mu.Unlock()
		w.Header().Set("ETag", `"`+sum+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		u := s.uploads[q.Get("uploadId")]
		var size int64
		for _, p := range u {
			size += p.size
		}
		delete(s.uploads, q.Get("uploadId"))
		etag := fmt.Sprintf("%x-%d", md5.Sum([]byte(key+strconv.FormatInt(size, 10))), len(u))
		s.objects[key] = nullObject{size: size, etag: etag, mod: time.Now().UTC()}
		s.dirty = true
		s.mu.Unlock()
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Key>%s</Key><ETag>"%s"</ETag></CompleteMultipartUploadResult>`, xmlEscape(key), etag)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		s.mu.Lock()
		delete(s.uploads, q.Get("uploadId"))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		s.put(w, r, key)
	case r.Method == http.MethodHead || r.Method == http.MethodGet:
		s.get(w, r, key)
	case r.Method == http.MethodDelete:
		s.mu.Lock()
		delete(s.objects, key)
		delete(s.keep, key)
		s.dirty = true
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}

func (s *nullS3) put(w http.ResponseWriter, r *http.Request, key string) {
	var body []byte
	var n int64
	var sum string
	if strings.HasPrefix(key, "annotations/") {
		body, _ = io.ReadAll(r.Body)
		m := md5.Sum(body)
		n, sum = int64(len(body)), hex.EncodeToString(m[:])
	} else {
		n, sum = drain(r.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.objects[key]
	if r.Header.Get("If-None-Match") == "*" && exists || r.Header.Get("If-Match") != "" && (!exists || strings.Trim(r.Header.Get("If-Match"), `"`) != cur.etag) {
		w.WriteHeader(http.StatusPreconditionFailed)
		fmt.Fprint(w, `<Error><Code>PreconditionFailed</Code></Error>`)
		return
	}
	s.objects[key] = nullObject{size: n, etag: sum, mod: time.Now().UTC()}
	s.dirty = true
	if body != nil {
		s.keep[key] = body
	}
	w.Header().Set("ETag", `"`+sum+`"`)
}

func (s *nullS3) get(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	o, ok := s.objects[key]
	body := s.keep[key]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		if r.Method == http.MethodGet {
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code></Error>`)
		}
		return
	}
	w.Header().Set("ETag", `"`+o.etag+`"`)
	w.Header().Set("Last-Modified", o.mod.Format(http.TimeFormat))
	w.Header().Set("Content-Length", strconv.FormatInt(o.size, 10))
	if r.Method == http.MethodGet {
		_, _ = w.Write(body) // data objects were discarded: only annotations read back
	}
}

func (s *nullS3) list(w http.ResponseWriter, q map[string][]string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	prefix, after := get("prefix"), get("continuation-token")
	if after == "" {
		after = get("start-after")
	}
	limit := 1000
	s.mu.Lock()
	if s.dirty || s.sorted == nil {
		s.sorted = s.sorted[:0]
		for k := range s.objects {
			s.sorted = append(s.sorted, k)
		}
		sort.Strings(s.sorted)
		s.dirty = false
	}
	from := max(after, prefix)
	i := sort.SearchStrings(s.sorted, from)
	if i < len(s.sorted) && s.sorted[i] == after {
		i++
	}
	var keys []string
	for ; i < len(s.sorted) && len(keys) <= limit && strings.HasPrefix(s.sorted[i], prefix); i++ {
		keys = append(keys, s.sorted[i])
	}
	truncated := len(keys) > limit
	keys = keys[:min(len(keys), limit)]
	type content struct {
		Key          string
		Size         int64
		ETag         string
		LastModified string
	}
	res := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		IsTruncated           bool
		KeyCount              int
		NextContinuationToken string `xml:",omitempty"`
		Contents              []content
	}{IsTruncated: truncated, KeyCount: len(keys)}
	for _, k := range keys {
		o := s.objects[k]
		res.Contents = append(res.Contents, content{k, o.size, `"` + o.etag + `"`, o.mod.Format(time.RFC3339Nano)})
	}
	s.mu.Unlock()
	if truncated {
		res.NextContinuationToken = slices.Max(keys)
	}
	w.Header().Set("Content-Type", "application/xml")
	_ = xml.NewEncoder(w).Encode(res)
}

func drain(r io.Reader) (int64, string) {
	h := md5.New()
	n, _ := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
