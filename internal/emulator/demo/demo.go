// Package demo is the world behind `astroingest demo`: every emulator of
// internal/emulator mounted on one loopback Server, filled with files laid
// out like the real publishers', and the registry that mirrors them.
//
// The registry is not written in Go. It is the YAML under registry/
// (embedded), whose only templated part is the emulators' base URL, plus one
// table file per family listing what the emulated publisher holds for the
// number of entries asked. Start renders it and loads it through the real
// loader (sources.Load), so the demo also proves the loader and the schema
// has one definition: sources/SCHEMA.md and the loader. The builders in this
// package own the other half, the publishers' layouts.
package demo

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing/fstest"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

const (
	// CDSEnv names the credential the demo registry declares for its
	// emulated CDS, as the real registry does for cds.climate.copernicus.eu.
	CDSEnv = "CDS_API_KEY"
	// CDSToken is the token the demo's CDS emulator accepts. It is not a
	// secret: it opens nothing but the emulator.
	CDSToken = "demo-cds-token-not-a-secret"
	// DefaultEntries is the size of the default demo registry.
	DefaultEntries = 300
	// DefaultSeed seeds the demo content when Options.Seed is 0.
	DefaultSeed = 20240501
	// MaxEntries bounds Options.Entries: the emulators hold their listings
	// in memory, and dates must stay four-digit years.
	MaxEntries = 20000
)

// registryRoot is where the rendered registry sits in the file system the
// loader reads, so that its errors name the templates' own folder.
const registryRoot = "internal/emulator/demo/registry"

// Options configure Start.
type Options struct {
	// Entries is how many registry entries the world serves (exactly);
	// 0 means DefaultEntries. It must be MinEntries() to MaxEntries.
	// Data volume grows with it, about 0.4 MiB per entry.
	Entries int
	// Seed derives every file's size and content; the same seed gives
	// byte-identical files, listings and registry (but for the port).
	// 0 means DefaultSeed.
	Seed int64
}

// World is a running demo: the emulators and the registry that mirrors
// them. Its fields are read-only after Start, and its methods and the
// emulators are safe for concurrent use (see internal/emulator). Close it
// when done.
type World struct {
	Server *emulator.Server
	MAST   *emulator.MAST
	CDS    *emulator.CDS
	TAP    *emulator.TAP

	// Registry is the demo registry as the real loader loaded it.
	Registry *sources.Registry
	// Files are the rendered registry files (hosts.yaml, climate.yaml, ...,
	// tables/*.tsv) by their path below the registry folder.
	Files map[string][]byte
	// Objects and Bytes are what a complete mirror of Registry holds (files
	// the entries' filters leave out are not counted).
	Objects int
	Bytes   int64
}

// Start starts the emulators on 127.0.0.1, fills them, and loads the
// registry that names what they serve. A registry that does not load is a
// bug in this package, reported as an error.
func Start(opts Options) (*World, error) {
	if opts.Entries == 0 {
		opts.Entries = DefaultEntries
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	if lo := MinEntries(); opts.Entries < lo || opts.Entries > MaxEntries {
		return nil, fmt.Errorf("demo entries %d: want %d to %d (the smallest demo still covers every kind and domain)", opts.Entries, lo, MaxEntries)
	}
	srv := emulator.NewServer()
	w := &World{
		Server: srv,
		MAST:   emulator.NewMAST(emulator.MASTOptions{Prefix: "/mast"}),
		CDS:    emulator.NewCDS(emulator.CDSOptions{Prefix: "/cds", Token: CDSToken}),
		TAP:    emulator.NewTAP(emulator.TAPOptions{Prefix: "/eso/tap_obs", FileBase: srv.URL() + "/dataPortal/file"}),
		Files:  map[string][]byte{},
	}
	srv.Handle("/mast/", w.MAST)
	srv.Handle("/cds/", w.CDS)
	srv.Handle("/eso/tap_obs/", w.TAP)
	b := &builder{w: w, srv: srv, base: srv.URL(), seed: opts.Seed}
	for i, n := range allocate(opts.Entries) {
		families[i].build(b, n)
	}
	b.finish()
	reg, err := w.load()
	if err != nil {
		srv.Close()
		return nil, err
	}
	w.Registry = reg
	return w, nil
}

// load renders the templates and loads them with the tables.
func (w *World) load() (*sources.Registry, error) {
	if err := renderTemplates(w.Server.URL(), w.Files); err != nil {
		return nil, err
	}
	reg, err := sources.Load(w.FS(), registryRoot)
	if err != nil {
		return nil, fmt.Errorf("demo: the demo registry does not load (a bug in internal/emulator/demo): %w", err)
	}
	return reg, nil
}

// FS is the rendered registry as a file system, its files under
// internal/emulator/demo/registry, as sources.Load reads it.
func (w *World) FS() fs.FS {
	m := fstest.MapFS{}
	for name, data := range w.Files {
		m[path.Join(registryRoot, name)] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return m
}

// Close stops the emulators.
func (w *World) Close() { w.Server.Close() }

// WriteRegistry writes the rendered registry into dir (created if needed),
// for use with --registry while the demo keeps serving.
func (w *World) WriteRegistry(dir string) error {
	for name, data := range w.Files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
	}
	return nil
}

// Getenv is the environment the demo's registry needs: the CDS token and
// nothing else, so that no real credential of the caller's environment is
// ever sent to the emulators.
func (w *World) Getenv(name string) string {
	if name == CDSEnv {
		return CDSToken
	}
	return ""
}
