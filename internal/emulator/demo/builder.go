package demo

import (
	"bytes"
	"embed"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
)

// templates are the registry files; [[.Base]] and [[.Host]] are the only
// templated parts ({...} is the registry's own expansion syntax).
//
//go:embed registry/*.yaml.tmpl
var templates embed.FS

var demoModTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// builder fills the emulators family by family and writes each family's
// table: the rows the registry expands over, which are what the emulated
// publisher holds.
type builder struct {
	w    *World
	srv  *emulator.Server
	base string
	seed int64

	tapRows [][]string
	esoIDs  map[string]bool
}

// h is a deterministic 64-bit hash of the seed and the parts.
func (b *builder) h(parts ...string) uint64 {
	f := fnv.New64a()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], uint64(b.seed))
	f.Write(s[:])
	for _, p := range parts {
		f.Write([]byte(p))
		f.Write([]byte{0})
	}
	return splitmix64(f.Sum64())
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// size is a deterministic size in [lo, hi).
func (b *builder) size(key string, lo, hi int64) int64 {
	return lo + int64(b.h("size", key)%uint64(hi-lo))
}

// gen adds a generated file (streamed, never held in memory) of a size in
// [lo, hi) at p and returns the size.
func (b *builder) gen(p string, lo, hi int64) int64 {
	n := b.size(p, lo, hi)
	b.srv.AddGenerated(p, n, int64(b.h("content", p)))
	return n
}

// text adds a small text file and returns its size.
func (b *builder) text(p, body string) int64 {
	b.srv.AddFile(p, []byte(body), demoModTime)
	return int64(len(body))
}

// expect records one object a complete mirror holds.
func (b *builder) expect(size int64) {
	b.w.Objects++
	b.w.Bytes += size
}

// table writes tables/<family>.tsv, which the family's YAML expands over.
func (b *builder) table(family string, cols []string, rows [][]string) {
	var t strings.Builder
	t.WriteString("# Written by astroingest demo: what the emulated publisher holds for " + family + ".\n")
	t.WriteString(strings.Join(cols, "\t") + "\n")
	for _, r := range rows {
		t.WriteString(strings.Join(r, "\t") + "\n")
	}
	b.w.Files["tables/"+family+".tsv"] = []byte(t.String())
}

// finish adds what several families share: the ESO ObsCore table.
func (b *builder) finish() {
	b.w.TAP.AddTable("ivoa.ObsCore", []string{"dp_id", "access_url", "instrument_name", "dataproduct_type", "t_min", "access_estsize"}, b.tapRows)
}

// renderTemplates fills the emulators' URL into every template; each
// registry file keeps its template's name without ".tmpl".
func renderTemplates(base string, out map[string][]byte) error {
	vars := struct{ Base, Host string }{base, strings.TrimPrefix(base, "http://")}
	names, err := fs.Glob(templates, "registry/*.yaml.tmpl")
	if err != nil {
		return fmt.Errorf("demo registry: %w", err)
	}
	for _, name := range names {
		src, err := templates.ReadFile(name)
		if err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
		t, err := template.New(name).Delims("[[", "]]").Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, vars); err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
		out[strings.TrimSuffix(path.Base(name), ".tmpl")] = buf.Bytes()
	}
	return nil
}
