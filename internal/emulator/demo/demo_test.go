package demo_test

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
	"sort"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/emulator/demo"
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
	r.Header.Set("PRIVATE-TOKEN", demo.CDSToken)
	return t.base.RoundTrip(r)
}

func startDemo(t *testing.T, opts demo.Options) *demo.World {
	t.Helper()
	w, err := demo.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// mirrorAll runs every entry through its real kind and downloads every
// object, checking sizes and publisher checksums. It returns the sha256 of
// each object by "entry/name".
func mirrorAll(t *testing.T, d *demo.World) (map[string]string, int64) {
	t.Helper()
	ctx := context.Background()
	c := d.Server.Client()
	c.Transport = tokenTransport{c.Transport}
	kinds := demoKinds()
	sums := map[string]string{}
	var total int64
	for _, e := range d.Registry.Entries {
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

// The registry loads through the real loader from the templates' folder,
// covers every kind, manifest format and domain, carries marked metadata,
// and every entry's real kind finds exactly the objects and bytes the demo
// promises.
func TestDemoWorldThroughRealKinds(t *testing.T) {
	n := demo.MinEntries() + 13
	d := startDemo(t, demo.Options{Entries: n})
	reg := d.Registry
	if len(reg.Entries) != n {
		t.Fatalf("registry has %d entries, asked %d", len(reg.Entries), n)
	}
	for _, f := range reg.Files {
		if !strings.HasPrefix(f, "internal/emulator/demo/registry/") {
			t.Errorf("registry file %s is not named after the templates' folder", f)
		}
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
		if !strings.HasPrefix(e.URL, d.Server.URL()+"/") {
			t.Errorf("entry %s: URL %s is not on the emulators' server", e.ID, e.URL)
		}
	}
	for _, want := range []string{"http", "index", "mast", "cds", "tap", "manifest/md5sum", "manifest/metalink", "manifest/table", "manifest/assembly_summary", "manifest/curl_script"} {
		if kinds[want] == 0 {
			t.Errorf("no entry of kind %s (have %v)", want, kinds)
		}
	}
	for _, dom := range sources.Domains() {
		if domains[dom] == 0 {
			t.Errorf("no entry in domain %s (have %v)", dom, domains)
		}
	}
	sums, total := mirrorAll(t, d)
	if len(sums) != d.Objects || total != d.Bytes {
		t.Fatalf("kinds found %d objects, %d bytes; demo promises %d objects, %d bytes", len(sums), total, d.Objects, d.Bytes)
	}
}

// registryText is every rendered registry file with a header per file, the
// server's port replaced.
func registryText(d *demo.World) string {
	names := make([]string, 0, len(d.Files))
	for name := range d.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "### %s\n%s\n", name, d.Files[name])
	}
	return strings.ReplaceAll(b.String(), strings.TrimPrefix(d.Server.URL(), "http://"), "HOST")
}

// The templates' only templated part is the base URL: rendered, nothing of
// the template syntax is left, and the port appears only in URLs and the
// one host declaration.
func TestDemoTemplatesOnlyTakeTheBaseURL(t *testing.T) {
	d := startDemo(t, demo.Options{Entries: demo.MinEntries()})
	text := registryText(d)
	if strings.Contains(text, "[[") || strings.Contains(text, "]]") {
		t.Errorf("template syntax left in the rendered registry:\n%s", text)
	}
	hosts := strings.Count(text, "HOST")
	urls := strings.Count(text, "http://HOST/")
	if hosts != urls+1 || !strings.Contains(text, `host: "HOST"`) {
		t.Errorf("the port appears %d times, in %d URLs: want the URLs and one host declaration", hosts, urls)
	}
}

// Same seed, same bytes and registry (only the port differs); another
// seed, other bytes.
func TestDemoDeterministic(t *testing.T) {
	n := demo.MinEntries()
	d1, d2 := startDemo(t, demo.Options{Entries: n}), startDemo(t, demo.Options{Entries: n})
	d3 := startDemo(t, demo.Options{Entries: n, Seed: 7})
	s1, _ := mirrorAll(t, d1)
	s2, _ := mirrorAll(t, d2)
	s3, _ := mirrorAll(t, d3)
	if len(s1) != len(s2) {
		t.Fatalf("same seed: %d vs %d objects", len(s1), len(s2))
	}
	for k, v := range s1 {
		if s2[k] != v {
			t.Errorf("same seed, %s differs", k)
		}
	}
	if registryText(d1) != registryText(d2) {
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
	for _, n := range []int{demo.MinEntries(), 100, demo.DefaultEntries, 1234} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			d := startDemo(t, demo.Options{Entries: n})
			if len(d.Registry.Entries) != n {
				t.Fatalf("asked %d entries, registry has %d", n, len(d.Registry.Entries))
			}
		})
	}
}

func TestStartRejectsSize(t *testing.T) {
	for _, n := range []int{-1, demo.MinEntries() - 1, demo.MaxEntries + 1} {
		_, err := demo.Start(demo.Options{Entries: n})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(demo.MinEntries())) {
			t.Errorf("entries %d: err %v, want one naming the minimum", n, err)
		}
	}
}
