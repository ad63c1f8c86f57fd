package e2e

// Reads of the bucket that go around the code under test: the plain SDK
// client against the gateway, and the gateway's backing files.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/astroingest/astroingest/ingest"
)

func (x *e2e) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	x.t.Cleanup(cancel)
	return ctx
}

// objInfo is what the gateway reports for an object, plus the identity of
// the gateway's backing file, so a rewrite with equal bytes is still seen.
type objInfo struct {
	size    int64
	etag    string
	lastMod time.Time
	file    os.FileInfo
}

// list returns every object under prefix.
func (x *e2e) list(prefix string) map[string]objInfo {
	x.t.Helper()
	out := map[string]objInfo{}
	p := awss3.NewListObjectsV2Paginator(x.s3, &awss3.ListObjectsV2Input{Bucket: aws.String(x.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(x.ctx())
		if err != nil {
			x.t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			fi, _ := os.Stat(filepath.Join(x.gw.Dir, x.bucket, filepath.FromSlash(k)))
			out[k] = objInfo{size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag), lastMod: aws.ToTime(o.LastModified), file: fi}
		}
	}
	return out
}

func (x *e2e) get(key string) []byte {
	x.t.Helper()
	out, err := x.s3.GetObject(x.ctx(), &awss3.GetObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(key)})
	if err != nil {
		x.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		x.t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// exists reports whether key is a visible object.
func (x *e2e) exists(key string) bool {
	x.t.Helper()
	_, err := x.s3.HeadObject(x.ctx(), &awss3.HeadObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(key)})
	var ae smithy.APIError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey"):
		return false
	}
	x.t.Fatalf("head %s: %v", key, err)
	return false
}

func (x *e2e) getJSON(key string, v any) {
	x.t.Helper()
	if err := json.Unmarshal(x.get(key), v); err != nil {
		x.t.Fatalf("decode %s: %v", key, err)
	}
}

// uploads lists the unfinished multipart uploads in the bucket by key.
func (x *e2e) uploads() []string {
	x.t.Helper()
	var keys []string
	in := &awss3.ListMultipartUploadsInput{Bucket: aws.String(x.bucket)}
	for {
		out, err := x.s3.ListMultipartUploads(x.ctx(), in)
		if err != nil {
			x.t.Fatalf("list multipart uploads: %v", err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	sort.Strings(keys)
	return keys
}

// liveLeases lists the lease objects not marked released: a run that is
// over leaves the bucket lease behind, released (see ingest.BucketLeaseKey).
func (x *e2e) liveLeases() []string {
	x.t.Helper()
	var live []string
	for k := range x.list(ingest.LeasePrefix) {
		var l ingest.Lease
		x.getJSON(k, &l)
		if !l.Released {
			live = append(live, k)
		}
	}
	sort.Strings(live)
	return live
}

var dataPrefixes = []string{"climate/", "astronomy/", "spectroscopy/", "biology/"}

func (x *e2e) dataObjects() map[string]objInfo {
	all := map[string]objInfo{}
	for _, p := range dataPrefixes {
		for k, v := range x.list(p) {
			all[k] = v
		}
	}
	return all
}

// manifest reads an entry's head and its records the way a reader of
// ingest/annotations/FORMAT.md would: the head's inline records, or its
// parts one after the other, each gzip'd JSON Lines.
func (x *e2e) manifest(id string) (annotations.Head, []annotations.Record) {
	x.t.Helper()
	var h annotations.Head
	x.getJSON(ingest.ManifestKey(id), &h)
	if h.SchemaVersion != annotations.SchemaVersion {
		x.t.Fatalf("manifest %s: schema_version %d", id, h.SchemaVersion)
	}
	recs := append([]annotations.Record(nil), h.Records...)
	for _, p := range h.Parts {
		zr, err := gzip.NewReader(bytes.NewReader(x.get(p.Key)))
		if err != nil {
			x.t.Fatalf("part %s: %v", p.Key, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var r annotations.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				x.t.Fatalf("part %s: %v", p.Key, err)
			}
			recs = append(recs, r)
		}
		if err := sc.Err(); err != nil {
			x.t.Fatalf("part %s: %v", p.Key, err)
		}
	}
	return h, recs
}
