package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/astroingest/astroingest/sources"
)

const sourcesHelp = `
Usage:
  astroingest sources list [--domain D] [--family F] [--registry PATH ...]
  astroingest sources show ID [--registry PATH ...]
  astroingest sources validate [FILE|DIR ...]
  astroingest sources stats [--json] [--registry PATH ...]
  astroingest sources refresh [--registry DIR] [--write] [--prune] [NAME ...]

Inspect the source registry: the one built into the binary, or the YAML
files and folders given with --registry, one path per flag (repeat it for
several; folders are read recursively). The registry format is described
in sources/SCHEMA.md.

  list      one line per entry: ID, domain, kind, schedule, bucket key
  show      everything about one entry (or one family): URL, metadata,
            licence, host policy, and the file and line declaring it
  validate  check files (default: the built-in registry) and print every
            problem as FILE:LINE: FIELD: MESSAGE; exit 2 if there is any
  stats     entry counts by domain, family and provider
  refresh   regenerate the tables of growing families (TESS sectors, GTDB
            releases, KEGG organisms, JWST programs, HITRAN isotopologues)
            from the publishers' indexes and print the diff; needs the
            internet, writes only with --write

Examples:
  astroingest sources list --domain climate
  astroingest sources list --family noaa-ersst-v5
  astroingest sources show noaa-ersst-v5-202401
  astroingest sources validate
  astroingest sources validate ./my-sources/ extra.yaml
  astroingest sources stats --json
  astroingest sources list --registry ./my-sources/ --registry extra.yaml
  astroingest sources refresh jwst-programs --write
`

// runSources implements "astroingest sources ...". Its inspecting
// subcommands only read the registry, so their exit codes are 0 (ok) and 2
// (bad usage or registry); refresh adds 1 (a refresher failed) and 3
// (interrupted).
func runSources(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, strings.TrimLeft(sourcesHelp, "\n"))
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return sourcesList(rest, stdout, stderr)
	case "show":
		return sourcesShow(rest, stdout, stderr)
	case "validate":
		return sourcesValidate(rest, stdout, stderr)
	case "stats":
		return sourcesStats(rest, stdout, stderr)
	case "refresh":
		return sourcesRefresh(ctx, rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, strings.TrimLeft(sourcesHelp, "\n"))
		return exitOK
	}
	fmt.Fprintf(stderr, "sources: unknown subcommand %q (want list, show, validate, stats or refresh)\n\n", sub)
	fmt.Fprint(stderr, strings.TrimLeft(sourcesHelp, "\n"))
	return exitUsage
}

// registryPaths is the --registry flag of every command (DESIGN.md:
// "--registry PATH, repeatable"): one file or folder per flag, kept as
// given. It never splits on commas, which a path may hold; the selection
// flags (--domain, --family, --source) do, since their values cannot.
type registryPaths []string

func (p *registryPaths) String() string { return strings.Join(*p, " ") }
func (p *registryPaths) Set(v string) error {
	if v == "" {
		return errors.New("empty path")
	}
	*p = append(*p, v)
	return nil
}

// registryFlag defines --registry on fs, with the one help text.
func registryFlag(fs *flag.FlagSet) *registryPaths {
	p := &registryPaths{}
	fs.Var(p, "registry", "registry YAML `path`, a file or folder; repeat the flag for several, one path each (default: the built-in registry)")
	return p
}

// loadRegistry loads the --registry paths, or the embedded registry when
// there are none, checked against kinds: every command loads through it, so
// each refuses a kind or a param that a run would.
func loadRegistry(kinds map[string]sources.Kind, paths []string) (*sources.Registry, error) {
	l := sources.Loader{Kinds: kinds}
	if len(paths) == 0 {
		return l.Default()
	}
	return l.LoadPaths(paths)
}

// reportRegistryError prints a load failure, every validation error on its
// own line, and returns the exit code.
func reportRegistryError(stderr io.Writer, cmd string, err error) int {
	var verrs sources.ValidationErrors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "%s: the registry has %d error(s)\n", cmd, len(verrs))
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	return exitUsage
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("show ID --registry x" as well as "show --registry x ID"),
// which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int) {
	var pos []string
	for {
		if code := parseFlags(fs, args); code >= 0 {
			return nil, code
		}
		if fs.NArg() == 0 {
			return pos, -1
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func sourcesList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sources list", `
Usage: astroingest sources list [--domain D] [--family F] [--registry PATH ...]

Lists one line per entry: ID, domain, kind, schedule and bucket key.

Examples:
  astroingest sources list --domain biology
  astroingest sources list --family noaa-ersst-v5 --registry ./my-sources/
`, stderr)
	domain := fs.String("domain", "", "only entries of this domain: "+strings.Join(sources.Domains(), ", "))
	family := fs.String("family", "", "only entries of this family ID")
	paths := registryFlag(fs)
	pos, code := parseInterleaved(fs, args)
	switch {
	case code >= 0:
		return code
	case len(pos) > 0:
		fmt.Fprintf(stderr, "sources list: unexpected argument %q (filter with --domain or --family)\n", pos[0])
		return exitUsage
	case *domain != "" && !slices.Contains(sources.Domains(), *domain):
		fmt.Fprintf(stderr, "sources list: --domain %q: want one of %s\n", *domain, strings.Join(sources.Domains(), ", "))
		return exitUsage
	}
	reg, err := loadRegistry(kindTable(), *paths)
	if err != nil {
		return reportRegistryError(stderr, "sources list", err)
	}
	if *family != "" {
		if _, ok := reg.Family(*family); !ok {
			fmt.Fprintf(stderr, "sources list: --family %q: no such family ('astroingest sources stats' lists them)\n", *family)
			return exitUsage
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDOMAIN\tKIND\tSCHEDULE\tKEY")
	for _, e := range reg.Entries {
		if (*domain == "" || e.Domain == *domain) && (*family == "" || e.Family == *family) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Domain, e.Kind, e.Schedule, e.KeyPrefix())
		}
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "sources list: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func sourcesValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sources validate", `
Usage: astroingest sources validate [FILE|DIR ...]

Checks registry files against sources/SCHEMA.md and prints every problem as
FILE:LINE: FIELD: MESSAGE. Without arguments it checks the built-in registry.
Folders are read recursively (every *.yaml). Exit status 2 if anything is
wrong, 0 otherwise.

Examples:
  astroingest sources validate
  astroingest sources validate sources/registry/
  astroingest sources validate new-family.yaml
`, stderr)
	paths := registryFlag(fs)
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	reg, err := loadRegistry(kindTable(), append(*paths, pos...))
	if err != nil {
		return reportRegistryError(stderr, "sources validate", err)
	}
	fmt.Fprintf(stdout, "ok: %s, %s, %s, %s\n",
		plural(len(reg.Files), "file"), plural(len(reg.Families), "family"),
		plural(len(reg.Entries), "entry"), plural(reg.Hosts.Len(), "host policy"))
	return exitOK
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	switch {
	case strings.HasSuffix(noun, "y"):
		noun = strings.TrimSuffix(noun, "y") + "ies"
	default:
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

func sourcesStats(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sources stats", `
Usage: astroingest sources stats [--json] [--registry PATH ...]

Counts entries by domain, family and provider. --json prints
{"total":N,"by_domain":{...},"by_family":{...},"by_provider":{...}}.

Examples:
  astroingest sources stats
  astroingest sources stats --json | jq .by_domain
`, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	paths := registryFlag(fs)
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "sources stats: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	reg, err := loadRegistry(kindTable(), *paths)
	if err != nil {
		return reportRegistryError(stderr, "sources stats", err)
	}
	st := reg.Stats()
	if *asJSON {
		data, err := json.Marshal(st)
		if err != nil { // a struct of ints and string maps always marshals
			fmt.Fprintf(stderr, "sources stats: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "%s\n", data)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "total\t%d\n", st.Total)
	for _, group := range []struct {
		name   string
		counts map[string]int
	}{{"domain", st.ByDomain}, {"family", st.ByFamily}, {"provider", st.ByProvider}} {
		fmt.Fprintf(tw, "by %s:\n", group.name)
		for _, k := range slices.Sorted(maps.Keys(group.counts)) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, group.counts[k])
		}
	}
	tw.Flush()
	return exitOK
}
