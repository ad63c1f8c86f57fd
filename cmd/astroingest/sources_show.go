package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/astroingest/astroingest/sources"
)

func sourcesShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sources show", `
Usage: astroingest sources show ID [--registry PATH ...]

Shows one entry, or a family when ID names one: URL, bucket key, metadata,
licence and citation, the host policy it runs under, and where it is declared.

Examples:
  astroingest sources show noaa-ersst-v5-202401
  astroingest sources show noaa-ersst-v5
`, stderr)
	paths := registryFlag(fs)
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "sources show: want exactly one entry or family ID, got %d arguments\n", len(pos))
		fs.Usage()
		return exitUsage
	}
	reg, err := loadRegistry(kindTable(), *paths)
	if err != nil {
		return reportRegistryError(stderr, "sources show", err)
	}
	id := pos[0]
	if e, ok := reg.ByID(id); ok {
		showEntry(stdout, reg, e)
		return exitOK
	}
	if f, ok := reg.Family(id); ok {
		showFamily(stdout, reg, f)
		return exitOK
	}
	fmt.Fprintf(stderr, "sources show: no entry or family %q", id)
	if near := similarIDs(reg, id, 5); len(near) > 0 {
		fmt.Fprintf(stderr, "; did you mean %s?", strings.Join(near, ", "))
	}
	fmt.Fprintln(stderr)
	return exitUsage
}

// similarIDs returns up to n family or entry IDs that start with id, or that
// id starts with, to help after a typo or a truncated ID.
func similarIDs(reg *sources.Registry, id string, n int) []string {
	var out []string
	consider := func(cand string) bool {
		if strings.HasPrefix(cand, id) || strings.HasPrefix(id, cand) {
			out = append(out, cand)
		}
		return len(out) < n
	}
	for _, f := range reg.Families {
		if !consider(f.ID) {
			return out
		}
	}
	for _, e := range reg.Entries {
		if !consider(e.ID) {
			return out
		}
	}
	return out
}

// fieldRows prints aligned "key: value" lines for show, leaving out empty
// values; flush writes them.
func fieldRows(w io.Writer) (row func(k, v string), flush func()) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	return func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}, func() { tw.Flush() }
}

func showEntry(w io.Writer, reg *sources.Registry, e sources.Entry) {
	row, flush := fieldRows(w)
	row("id", e.ID)
	row("family", e.Family)
	row("domain", e.Domain)
	row("kind", e.Kind)
	row("schedule", e.Schedule)
	row("key", e.KeyPrefix())
	row("url", e.URL)
	row("checksums", e.Checksums)
	for _, k := range slices.Sorted(maps.Keys(e.Params)) {
		row("param "+k, e.Params[k])
	}
	showMeta(row, e.Meta)
	if e.BudgetBytes > 0 {
		row("budget", fmt.Sprintf("%d bytes per run", e.BudgetBytes))
	}
	row("host", describePolicy(reg.Hosts.For(e.URL)))
	row("declared", fmt.Sprintf("%s:%d", e.File, e.Line))
	flush()
}

func showFamily(w io.Writer, reg *sources.Registry, f sources.Family) {
	row, flush := fieldRows(w)
	row("family", f.ID)
	row("domain", f.Domain)
	row("kind", f.Kind)
	row("schedule", f.Schedule)
	row("entries", fmt.Sprint(f.Count))
	var first, last string
	for _, e := range reg.Entries {
		if e.Family == f.ID {
			if first == "" {
				first = e.ID
			}
			last = e.ID
		}
	}
	row("first entry", first)
	if last != first {
		row("last entry", last)
	}
	showMeta(row, f.Meta)
	if f.BudgetBytes > 0 {
		row("budget", fmt.Sprintf("%d bytes per run", f.BudgetBytes))
	}
	if f.AllowHTTP {
		row("allow http", f.AllowHTTPReason)
	}
	row("declared", fmt.Sprintf("%s:%d", f.File, f.Line))
	flush()
}

func showMeta(row func(k, v string), m sources.Meta) {
	row("title", m.Title)
	row("description", m.Description)
	row("provider", m.Provider)
	row("license", m.License)
	row("citation", m.Citation)
	row("doi", m.DOI)
	row("homepage", m.Homepage)
}

// describePolicy renders a host policy on one line. It names a credential's
// environment variable, never its value.
func describePolicy(p sources.HostPolicy) string {
	s := fmt.Sprintf("%s (concurrency %d, %g req/s, burst %d", p.Host, p.Concurrency, p.RPS, p.Burst)
	if p.Gate != "" {
		s += fmt.Sprintf("; gated by %s=1: %s", p.Gate, p.GateReason)
	}
	if c := p.Credential; c != nil {
		how := "header " + c.Header
		if c.Query != "" {
			how = "query parameter " + c.Query
		}
		s += fmt.Sprintf("; credential $%s as %s", c.Env, how)
		if c.Required {
			s += ", required"
		}
		if c.RPS > 0 {
			s += fmt.Sprintf(", %g req/s with it", c.RPS)
		}
	}
	if p.File != "" {
		s += fmt.Sprintf("; %s:%d", p.File, p.Line)
	}
	return s + ")"
}
