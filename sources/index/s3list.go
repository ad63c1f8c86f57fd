package index

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// S3 ListBucket XML (v1 markers, v2 continuation tokens), a page at a time.

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	IsTruncated           bool
	NextMarker            string
	NextContinuationToken string
	Contents              []struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
	}
	CommonPrefixes []struct {
		Prefix string
	}
}

func listS3(ctx context.Context, c *http.Client, base *url.URL, opt options, emit func(sources.Object) error) error {
	root := *base
	q := root.Query()
	root.RawQuery, root.Fragment = "", ""
	if !strings.HasSuffix(root.Path, "/") {
		root.Path += "/"
		root.RawPath = ""
	}
	prefix := q.Get("prefix")
	// Names are relative to the "directory" part of the prefix.
	dirPrefix := prefix[:strings.LastIndex(prefix, "/")+1]
	v2 := q.Get("list-type") == "2"
	q.Del("marker")
	q.Del("continuation-token")
	q.Del("delimiter")
	if opt.maxDepth == 0 {
		q.Set("delimiter", "/")
	}

	marker := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return fmt.Errorf("list %s: more than %d pages", root.String(), maxPages)
		}
		if marker != "" {
			if v2 {
				q.Set("continuation-token", marker)
			} else {
				q.Set("marker", marker)
			}
		}
		u := root
		u.RawQuery = q.Encode()
		body, err := listing.Get(ctx, c, u.String())
		if err != nil {
			return fmt.Errorf("list %w", err)
		}
		var res listBucketResult
		if err := xml.Unmarshal(body, &res); err != nil {
			return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("list %s: not ListBucketResult XML", u.String()), Err: err}
		}
		last := ""
		for _, ct := range res.Contents {
			last = max(last, ct.Key)
			if !strings.HasPrefix(ct.Key, dirPrefix) || strings.HasSuffix(ct.Key, "/") {
				continue // outside the prefix, or a folder placeholder
			}
			rel := ct.Key[len(dirPrefix):]
			if strings.Count(rel, "/") > opt.maxDepth || !validRel(rel) || !opt.filter.Match(rel) {
				continue
			}
			o := sources.Object{Name: rel, URL: root.String() + escapeKey(ct.Key), Size: ct.Size, ETag: ct.ETag}
			if t, err := time.Parse(time.RFC3339Nano, ct.LastModified); err == nil {
				o.LastModified = t
			}
			if err := emit(o); err != nil {
				return err
			}
		}
		for _, cp := range res.CommonPrefixes {
			last = max(last, cp.Prefix)
		}
		if !res.IsTruncated {
			return nil
		}
		next := res.NextContinuationToken
		if !v2 {
			// S3 sends NextMarker only with a delimiter; otherwise the last
			// key is the marker.
			next = res.NextMarker
			if next == "" {
				next = last
			}
		}
		if next == "" || next == marker {
			return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("list %s: truncated listing without a way to continue", u.String())}
		}
		marker = next
	}
}

func validRel(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
