package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/refresh"
	"github.com/astroingest/astroingest/sources/registry"
)

const refreshHelp = `
Usage: astroingest sources refresh [--registry DIR] [--write] [--prune] [--allow-gated] [NAME ...]

Regenerates the tables of families that grow (sources/registry/tables/*.tsv)
from the publishers' own indexes, and prints the change as a unified diff on
stdout, with a summary per table on stderr. It is a maintainer's command and
needs the internet; plan and run never refresh anything, so the table in the
repository is what runs, and a refresh is a change you review and commit.

NAME is a table's name or the ID of a family that expands it; without one,
every table below is refreshed, one request at a time, at each host's
rate from hosts.yaml, with gated hosts (KEGG) refused unless their variable
is 1 or --allow-gated is given.

A table keeps its comments, its columns and its order (the refresher's).
A row the publisher no longer lists is kept, and named on stderr, unless
--prune drops it. The refreshed registry must still validate, or the
refresh fails.

Without --write nothing is written. With --write the changed tables are
written into DIR/tables/, and only when every refresher named succeeded.

Exit status: 0 every table refreshed (changed or not), 1 a refresher
failed or its table would not validate (nothing written), 2 bad usage or
an invalid registry, 3 interrupted.

Examples:
  astroingest sources refresh                          # every table: show the diff
  astroingest sources refresh tess-spoc-sectors        # one table
  astroingest sources refresh jwst-programs --write    # write it, then: git diff, commit
  astroingest sources refresh kegg-organisms --allow-gated --write
  astroingest sources refresh --registry ./sources/registry > refresh.diff
`

// refreshCommand runs "sources refresh" over a refresher table; main uses
// the real publishers, tests the emulated ones.
type refreshCommand struct {
	specs     []refresh.Spec
	getenv    func(string) string
	transport http.RoundTripper
}

// refreshOpts are the command's flags and arguments.
type refreshOpts struct {
	dir          string // registry folder; "" for the built-in registry
	write, prune bool
	allowGated   bool
	selected     []refresh.Spec
}

// refreshed is one table's outcome.
type refreshed struct {
	spec     refresh.Spec
	rel      string // the table's path in the registry folder
	file     string // the same, as shown (with the folder)
	old, new []byte
	change   refresh.Change
	err      error
}

func sourcesRefresh(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := refreshCommand{specs: refresh.Specs(refresh.RealBases()), getenv: os.Getenv, transport: http.DefaultTransport}
	return c.run(ctx, args, stdout, stderr)
}

func (c refreshCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := c.parse(args, stderr)
	if code >= 0 {
		return code
	}
	fsys, shown, err := registryFS(o.dir)
	if err != nil {
		fmt.Fprintf(stderr, "sources refresh: %v\n", err)
		return exitUsage
	}
	var paths []string
	if o.dir != "" {
		paths = []string{o.dir}
	}
	reg, err := loadRegistry(kindTable(), paths)
	if err != nil {
		return reportRegistryError(stderr, "sources refresh", err)
	}
	client := newPoliteClient(c.transport, reg.Hosts, o.allowGated, c.getenv)
	var results []*refreshed
	failed := 0
	for _, sp := range o.selected {
		r := refreshOne(ctx, client, fsys, shown, sp, o.prune)
		if ctx.Err() != nil {
			// Interrupted (SIGINT, SIGTERM): no half-reviewed refresh.
			fmt.Fprintln(stderr, "sources refresh: interrupted; nothing written")
			return exitInterrupted
		}
		if r.err == nil {
			r.err = validateWith(fsys, r)
		}
		report(stdout, stderr, r, o.prune)
		if r.err != nil {
			failed++
		}
		results = append(results, r)
	}
	if failed > 0 {
		if o.write {
			fmt.Fprintf(stderr, "sources refresh: nothing written: %s failed\n", plural(failed, "table"))
		}
		return exitFailed
	}
	if o.write {
		return writeTables(stderr, o.dir, results)
	}
	return exitOK
}

// parse reads the flags and names; code is -1 to go on.
func (c refreshCommand) parse(args []string, stderr io.Writer) (refreshOpts, int) {
	fs := newFlagSet("sources refresh", refreshHelp+c.tableList(), stderr)
	dir := fs.String("registry", "", "the registry `folder` whose tables/ are compared and written (default: ./sources/registry when it exists, else the built-in registry, which can be compared but not written)")
	write := fs.Bool("write", false, "write the changed tables (only when every refresher named succeeds)")
	prune := fs.Bool("prune", false, "drop rows the publisher no longer lists (default: keep them and name them)")
	allowGated := fs.Bool("allow-gated", false, "also read from hosts whose gate variable is not set to 1 (read the host's gate_reason first)")
	names, code := parseInterleaved(fs, args)
	if code >= 0 {
		return refreshOpts{}, code
	}
	o := refreshOpts{dir: *dir, write: *write, prune: *prune, allowGated: *allowGated}
	if o.dir == "" {
		if st, err := os.Stat(filepath.Join("sources", "registry", "tables")); err == nil && st.IsDir() {
			o.dir = filepath.Join("sources", "registry")
		} else if o.write {
			fmt.Fprintln(stderr, "sources refresh: --write needs --registry DIR (the checkout's sources/registry), or run it from the repository's root; the built-in registry cannot be written")
			return o, exitUsage
		}
	}
	var err error
	if o.selected, err = c.pick(names); err != nil {
		fmt.Fprintf(stderr, "sources refresh: %v\n%s", err, c.tableList())
		return o, exitUsage
	}
	return o, -1
}

// pick resolves the names given (tables or family IDs) to specs, in the
// table's order and each once; no name is every table.
func (c refreshCommand) pick(names []string) ([]refresh.Spec, error) {
	if len(names) == 0 {
		return c.specs, nil
	}
	names_ := func(sp refresh.Spec) []string { return append([]string{sp.Refresher.Name()}, sp.Families...) }
	for _, n := range names {
		if !slices.ContainsFunc(c.specs, func(sp refresh.Spec) bool { return slices.Contains(names_(sp), n) }) {
			return nil, fmt.Errorf("%q is not a refreshable table or a family of one", n)
		}
	}
	var out []refresh.Spec
	for _, sp := range c.specs {
		if slices.ContainsFunc(names_(sp), func(n string) bool { return slices.Contains(names, n) }) {
			out = append(out, sp)
		}
	}
	return out, nil
}

// tableList is the help's list of refreshable tables.
func (c refreshCommand) tableList() string {
	var b strings.Builder
	b.WriteString("\nRefreshable tables (families; index read):\n")
	for _, sp := range c.specs {
		fmt.Fprintf(&b, "  %-24s %s\n  %-24s %s\n", sp.Refresher.Name(), strings.Join(sp.Families, ", "), "", sp.Source)
	}
	return b.String()
}

// registryFS is the registry folder to compare against (the built-in one
// for ""), and the prefix its files are shown under.
func registryFS(dir string) (iofs.FS, string, error) {
	if dir == "" {
		return registry.FS, "sources/registry", nil
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, "", fmt.Errorf("--registry %q: want the registry folder (holding tables/): %v", dir, errOrNotDir(err))
	}
	return os.DirFS(dir), filepath.ToSlash(filepath.Clean(dir)), nil
}

func errOrNotDir(err error) error {
	if err != nil {
		return err
	}
	return errors.New("not a directory")
}

// refreshOne runs one refresher and merges what it read into the table.
func refreshOne(ctx context.Context, client *http.Client, fsys iofs.FS, shown string, sp refresh.Spec, prune bool) *refreshed {
	rel := "tables/" + sp.Refresher.Name() + ".tsv"
	r := &refreshed{spec: sp, rel: rel, file: shown + "/" + rel}
	old, err := iofs.ReadFile(fsys, rel)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.file, err)
		return r
	}
	r.old = old
	f, err := refresh.ParseFile(old)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.file, err)
		return r
	}
	tab, err := sp.Refresher.Refresh(ctx, client)
	if err != nil {
		r.err = err
		return r
	}
	merged, ch, err := refresh.Merge(f, tab, prune)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.file, err)
		return r
	}
	r.new, r.change = merged.Bytes(), ch
	return r
}

// validateWith loads the registry with the refreshed table in place of
// the old one: a refresh that would break it (two rows making one entry
// ID, a value a key cannot hold) fails instead of being written.
func validateWith(fsys iofs.FS, r *refreshed) error {
	if bytes.Equal(r.old, r.new) {
		return nil
	}
	over := overlayFS{base: fsys, name: r.rel, file: fstest.MapFS{r.rel: &fstest.MapFile{Data: r.new}}}
	if _, err := (sources.Loader{Kinds: kindTable()}).Load(over, "."); err != nil {
		return fmt.Errorf("the refreshed %s would not validate: %w", r.file, err)
	}
	return nil
}

// overlayFS is fsys with one file replaced.
type overlayFS struct {
	base iofs.FS
	name string
	file iofs.FS
}

func (o overlayFS) Open(name string) (iofs.File, error) {
	if name == o.name {
		return o.file.Open(name)
	}
	return o.base.Open(name)
}

// report prints one table's diff on stdout and its summary on stderr.
func report(stdout, stderr io.Writer, r *refreshed, prune bool) {
	name := r.spec.Refresher.Name()
	if r.err != nil {
		var fe *sources.FetchError
		switch {
		case errors.As(r.err, &fe) && fe.Reason == sources.ReasonGated:
			fmt.Fprintf(stderr, "sources refresh: %s: %s\n", name, fe.Detail)
		case fe != nil:
			fmt.Fprintf(stderr, "sources refresh: %s: %v (%s)\n", name, r.err, fe.Reason)
		default:
			fmt.Fprintf(stderr, "sources refresh: %s: %v\n", name, r.err)
		}
		return
	}
	d := refresh.Unified("a/"+r.file, "b/"+r.file, lines(r.old), lines(r.new))
	fmt.Fprint(stdout, d)
	ch := r.change
	switch {
	case d == "":
		fmt.Fprintf(stderr, "%s: unchanged (%s), from %s\n", name, plural(bytes.Count(r.new, []byte("\n")), "line"), r.spec.Source)
	case ch.Added == 0 && ch.Changed == 0 && (len(ch.Gone) == 0 || !prune):
		fmt.Fprintf(stderr, "%s: the same rows in the refresher's order, from %s\n", name, r.spec.Source)
	default:
		fmt.Fprintf(stderr, "%s: %d added, %d changed, from %s\n", name, ch.Added, ch.Changed, r.spec.Source)
	}
	if len(ch.Gone) > 0 {
		what := "kept; --prune drops them"
		if prune {
			what = "dropped"
		}
		fmt.Fprintf(stderr, "%s: %s no longer listed (%s):\n", name, plural(len(ch.Gone), "row"), what)
		for _, row := range ch.Gone {
			fmt.Fprintf(stderr, "  %s\n", strings.Join(row, "\t"))
		}
	}
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// writeTables writes the tables that changed, each by a rename so that no
// reader sees half a table.
func writeTables(stderr io.Writer, dir string, results []*refreshed) int {
	wrote := 0
	for _, r := range results {
		if bytes.Equal(r.old, r.new) {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(r.rel))
		if err := writeFileAtomic(path, r.new); err != nil {
			fmt.Fprintf(stderr, "sources refresh: write %s: %v\n", path, err)
			return exitFailed
		}
		fmt.Fprintf(stderr, "wrote %s\n", path)
		wrote++
	}
	if wrote == 0 {
		fmt.Fprintln(stderr, "sources refresh: every table is up to date; nothing written")
	}
	return exitOK
}

func writeFileAtomic(path string, data []byte) error {
	mode := iofs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".refresh-*.tsv")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
