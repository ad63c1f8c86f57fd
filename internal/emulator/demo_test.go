package emulator_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/cds"
	"github.com/astroingest/astroingest/sources/httpkind"
	"github.com/astroingest/astroingest/sources/index"
	"github.com/astroingest/astroingest/sources/manifest"
	"github.com/astroingest/astroingest/sources/mast"
	"github.com/astroingest/astroingest/sources/tap"
)

func demoKinds() map[string]sources.Kind {
	return map[string]sources.Kind{
		"http": httpkind.New(), "index": index.New(), "manifest": manifest.New(),
		"mast": mast.New(mast.Options{}), "cds": cds.New(cds.Options{}), "tap": tap.New(tap.Options{}),
	}
}

// tokenTransport adds the demo's CDS token, as the engine's transport does
// for a host whose credential is set.
type tokenTransport struct{ base http.RoundTripper }

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("PRIVATE-TOKEN", emulator.DemoCDSToken)
	return t.base.RoundTrip(r)
}

func startDemo(t *testing.T, opts emulator.DemoOptions) (*emulator.Demo, *sources.Registry) {
	t.Helper()
	d, err := emulator.StartDemo(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	reg, err := sources.Load(d.RegistryFS(), ".")
	if err != nil {
		t.Fatalf("the demo registry does not load: %v\n%s", err, d.RegistryText())
	}
	return d, reg
}

// mirrorAll runs every entry through its real kind and downloads every
// object, checking sizes and publisher checksums. It returns the sha256 of
// each object by "entry/name".
func mirrorAll(t *testing.T, d *emulator.Demo, reg *sources.Registry) (map[string]string, int64) {
	t.Helper()
	ctx := context.Background()
	c := d.Server.Client()
	c.Transport = tokenTransport{c.Transport}
	kinds := demoKinds()
	sums := map[string]string{}
	var total int64
	for _, e := range reg.Entries {
		objs, err := kinds[e.Kind].Objects(ctx, c, e)
		if err != nil {
			t.Fatalf("entry %s (%s): %v", e.ID, e.Kind, err)
		}
		if len(objs) == 0 {
			t.Fatalf("entry %s (%s) names no objects", e.ID, e.Kind)
		}
		for _, o := range objs {
			resp, err := c.Get(o.URL)
			if err != nil {
				t.Fatalf("entry %s: GET %s: %v", e.ID, o.URL, err)
			}
			sha := sha256.New()
			var pub hash.Hash
			if o.Checksum != nil {
				pub = map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}[o.Checksum.Algo]()
			} else {
				pub = md5.New()
			}
			n, err := io.Copy(io.MultiWriter(sha, pub), resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("entry %s: GET %s: %d %v", e.ID, o.URL, resp.StatusCode, err)
			}
			if o.Size >= 0 && n != o.Size {
				t.Errorf("entry %s: %s: %d bytes, listed %d", e.ID, o.Name, n, o.Size)
			}
			if o.Checksum != nil && hex.EncodeToString(pub.Sum(nil)) != o.Checksum.Value {
				t.Errorf("entry %s: %s: %s mismatch", e.ID, o.Name, o.Checksum.Algo)
			}
			sums[e.ID+"/"+o.Name] = hex.EncodeToString(sha.Sum(nil))
			total += n
		}
	}
	return sums, total
}

func kindLabel(e sources.Entry) string {
	if e.Kind == "manifest" {
		return "manifest/" + e.Params["format"]
	}
	return e.Kind
}

// The generated registry loads through the real loader, covers every kind,
// manifest format and domain, carries marked metadata, and every entry's
// real kind finds exactly the objects and bytes the demo promises.
func TestDemoWorldThroughRealKinds(t *testing.T) {
	d, reg := startDemo(t, emulator.DemoOptions{Entries: emulator.DemoMinEntries() + 13})
	if len(reg.Entries) != d.Entries || d.Entries != emulator.DemoMinEntries()+13 {
		t.Fatalf("registry has %d entries, demo says %d, asked %d", len(reg.Entries), d.Entries, emulator.DemoMinEntries()+13)
	}
	kinds, domains := map[string]int{}, map[string]int{}
	for _, e := range reg.Entries {
		kinds[kindLabel(e)]++
		domains[e.Domain]++
		m := e.Meta
		if !strings.HasPrefix(m.Title, "DEMO") || !strings.Contains(m.Description, "astroingest demo") ||
			!strings.Contains(m.Citation, "demo") || !strings.Contains(m.License, "demo") || m.Provider == "" || (m.DOI == "" && m.Homepage == "") {
			t.Errorf("entry %s: metadata not complete or not marked as demo: %+v", e.ID, m)
		}
		if !strings.HasPrefix(e.Key, "demo/") {
			t.Errorf("entry %s: key %q is not under demo/", e.ID, e.Key)
		}
	}
	for _, want := range []string{"http", "index", "mast", "cds", "tap", "manifest/md5sum", "manifest/metalink", "manifest/table", "manifest/assembly_summary", "manifest/curl_script"} {
		if kinds[want] == 0 {
			t.Errorf("no entry of kind %s (have %v)", want, kinds)
		}
		if kinds[want] != d.Kinds[want] {
			t.Errorf("kind %s: registry has %d entries, demo says %d", want, kinds[want], d.Kinds[want])
		}
	}
	for _, dom := range sources.Domains() {
		if domains[dom] == 0 || domains[dom] != d.Domains[dom] {
			t.Errorf("domain %s: registry has %d entries, demo says %d", dom, domains[dom], d.Domains[dom])
		}
	}
	sums, total := mirrorAll(t, d, reg)
	if len(sums) != d.Objects || total != d.Bytes {
		t.Fatalf("kinds found %d objects, %d bytes; demo promises %d objects, %d bytes", len(sums), total, d.Objects, d.Bytes)
	}
}

// Same seed, same bytes (only the port differs); another seed, other bytes.
func TestDemoDeterministic(t *testing.T) {
	n := emulator.DemoMinEntries()
	d1, r1 := startDemo(t, emulator.DemoOptions{Entries: n})
	d2, r2 := startDemo(t, emulator.DemoOptions{Entries: n})
	d3, r3 := startDemo(t, emulator.DemoOptions{Entries: n, Seed: 7})
	s1, _ := mirrorAll(t, d1, r1)
	s2, _ := mirrorAll(t, d2, r2)
	s3, _ := mirrorAll(t, d3, r3)
	if len(s1) != len(s2) {
		t.Fatalf("same seed: %d vs %d objects", len(s1), len(s2))
	}
	for k, v := range s1 {
		if s2[k] != v {
			t.Errorf("same seed, %s differs", k)
		}
	}
	norm := func(d *emulator.Demo) string {
		return strings.ReplaceAll(d.RegistryText(), strings.TrimPrefix(d.Server.URL(), "http://"), "HOST")
	}
	reg1, reg2 := norm(d1), norm(d2)
	if reg1 != reg2 {
		t.Error("same seed gives different registries")
	}
	same := 0
	for k, v := range s1 {
		if s3[k] == v {
			same++
		}
	}
	// CDS results and MAST products are patterns of their URI; everything
	// generated from the tree must change with the seed.
	if same > len(s1)/2 {
		t.Errorf("another seed left %d of %d objects identical", same, len(s1))
	}
}

func TestDemoEntriesExact(t *testing.T) {
	for _, n := range []int{emulator.DemoMinEntries(), 100, emulator.DefaultDemoEntries, 1234} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			d, reg := startDemo(t, emulator.DemoOptions{Entries: n})
			if d.Entries != n || len(reg.Entries) != n {
				t.Fatalf("asked %d entries, demo has %d, registry %d", n, d.Entries, len(reg.Entries))
			}
		})
	}
}

func TestStartDemoRejectsSize(t *testing.T) {
	for _, n := range []int{-1, emulator.DemoMinEntries() - 1, emulator.MaxDemoEntries + 1} {
		_, err := emulator.StartDemo(emulator.DemoOptions{Entries: n})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(emulator.DemoMinEntries())) {
			t.Errorf("entries %d: err %v, want one naming the minimum", n, err)
		}
	}
}
