package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// shuffledKind lists n objects in a random order, plus names no key can
// hold.
type shuffledKind struct {
	n   int
	odd []string
}

func (k shuffledKind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	var out []sources.Object
	for _, i := range rand.Perm(k.n) {
		out = append(out, fullObject(i))
	}
	for _, name := range k.odd {
		out = append(out, sources.Object{Name: name, URL: "https://pub.example/odd", Size: 1})
	}
	return out, nil
}

// fullObject sets every field an object has, so a spill must carry all.
func fullObject(i int) sources.Object {
	o := sources.Object{Name: fmt.Sprintf("d%d/f%05d", i%3, i), URL: "https://pub.example/" + fmt.Sprint(i), Size: int64(i)}
	if i%2 == 0 {
		o.Checksum = &sources.Checksum{Algo: "md5", Value: fmt.Sprintf("%032x", i)}
		o.ETag, o.ContentType = fmt.Sprintf(`"e%d"`, i), "application/x-netcdf"
		o.LastModified = time.Unix(int64(1_700_000_000+i), 0).UTC()
	} else {
		o.ListedModTime = time.Unix(int64(1_700_000_000+60*i), 0).UTC()
	}
	o.SizeValidates = i%3 == 0
	if i%11 == 0 {
		o.ChecksumMissing = "https://pub.example/MD5SUMS"
	}
	if i%5 == 0 {
		o.Method, o.Body = "POST", []byte(fmt.Sprintf(`{"i":%d}`, i))
	}
	if i%7 == 0 {
		o.Body = []byte{}
	}
	return o
}

// A listing bigger than a chunk is spilled in sorted runs and merged back
// in key order; odd names are skipped and reported; the runs are removed.
func TestListSortedSpills(t *testing.T) {
	defer func(n int) { listChunk = n }(listChunk)
	for _, chunk := range []int{7, 1000} {
		listChunk = chunk
		dir := t.TempDir()
		e := sources.Entry{ID: "e", Domain: "climate", Key: "x/e"}
		var skipped []string
		l, err := listSorted(context.Background(), shuffledKind{n: 500, odd: []string{"a\x00b", `back\slash`}}, nil, e, dir, func(o sources.Object, err error) {
			skipped = append(skipped, o.Name)
		})
		if err != nil {
			t.Fatal(err)
		}
		if chunk == 7 && len(l.files) == 0 {
			t.Fatal("nothing spilled with a chunk of 7")
		}
		var keys []string
		var bytes int64
		for k, err := range l.each() {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.Key)
			bytes += k.Obj.Size
			if want := fullObject(int(k.Obj.Size)); !reflect.DeepEqual(k.Obj, want) {
				t.Fatalf("chunk %d: object %d came back as %+v, want %+v", chunk, k.Obj.Size, k.Obj, want)
			}
		}
		if len(keys) != 500 || !slices.IsSorted(keys) || l.objects != 500 || bytes != 499*500/2 || l.known != bytes-0 {
			t.Fatalf("chunk %d: %d keys, sorted %v, objects %d, bytes %d known %d", chunk, len(keys), slices.IsSorted(keys), l.objects, bytes, l.known)
		}
		if len(skipped) != 2 {
			t.Errorf("chunk %d: skipped %q, want the two odd names", chunk, skipped)
		}
		l.close()
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Errorf("chunk %d: spill files left: %v", chunk, left)
		}
	}
}
