package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

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
		out = append(out, sources.Object{Name: fmt.Sprintf("d%d/f%05d", i%3, i), URL: "https://pub.example/" + fmt.Sprint(i), Size: int64(i)})
	}
	for _, name := range k.odd {
		out = append(out, sources.Object{Name: name, URL: "https://pub.example/odd", Size: 1})
	}
	return out, nil
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
