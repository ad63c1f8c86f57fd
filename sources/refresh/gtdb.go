package refresh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/index"
	"github.com/astroingest/astroingest/sources/listing"
)

// gtdbPublic is GTDB's releases/ directory as the registry's URLs name it.
const gtdbPublic = "https://data.gtdb.ecogenomic.org/releases/"

// GTDB regenerates tables/gtdb-release-files.tsv (release, version, name,
// path, md5) from the releases/ listing of the GTDB data server. Public
// clients read it the same way: releases/ holds releaseNNN/ directories
// (and latest/, an alias, skipped), each holds version directories NNN.M/
// (214.0 and 214.1), and the files of a version are linked from its
// listing and from the subdirectories genomic_files_reps/,
// genomic_files_all/ and auxillary_files/ (GTDB's spelling), where the
// GTDB-Tk package moved to auxillary_files/gtdbtk_package/full_package/ in
// r220. Only the latest version of a release is taken: entry IDs name the
// release, not the version.
//
// Each row is one file of a known product, found by its name in the
// listings (see gtdbProducts); an older release lacking a product simply
// has no row for it. md5 is the version's MD5SUM.txt when its listing has
// one (r214 on), else empty. Rows are ordered by release number, then
// product. Only listings that exist are read: about six per release.
type GTDB struct {
	Releases string // the releases/ directory read
	Public   string // the releases/ URL the md5 column is written with
}

// Name implements Refresher.
func (GTDB) Name() string { return "gtdb-release-files" }

// gtdbProduct is a file every release has one of: name is the table's name
// column, dir its subdirectory of the version, and patterns its file names
// in order of preference (compressed first), with N for the release
// number; within one pattern the greatest match wins (gtdbtk_r207_v2 over
// gtdbtk_r207). The names are those in public download scripts for r89
// to r232 (gtdb.yaml gives the evidence): ar122 was the archaeal marker
// set up to r202, ar53 from r207.
type gtdbProduct struct {
	name, dir string
	patterns  []string
}

var gtdbProducts = []gtdbProduct{
	{"bac120-taxonomy", "", []string{`bac120_taxonomy_rN\.tsv\.gz`, `bac120_taxonomy_rN\.tsv`}},
	{"ar53-taxonomy", "", []string{`ar53_taxonomy_rN\.tsv\.gz`, `ar53_taxonomy_rN\.tsv`}},
	{"ar122-taxonomy", "", []string{`ar122_taxonomy_rN\.tsv\.gz`, `ar122_taxonomy_rN\.tsv`}},
	{"bac120-metadata", "", []string{`bac120_metadata_rN\.tsv\.gz`, `bac120_metadata_rN\.tar\.gz`, `bac120_metadata_rN\.tsv`}},
	{"ar53-metadata", "", []string{`ar53_metadata_rN\.tsv\.gz`, `ar53_metadata_rN\.tar\.gz`, `ar53_metadata_rN\.tsv`}},
	{"ar122-metadata", "", []string{`ar122_metadata_rN\.tsv\.gz`, `ar122_metadata_rN\.tar\.gz`, `ar122_metadata_rN\.tsv`}},
	{"bac120-tree", "", []string{`bac120_rN\.tree\.gz`, `bac120_rN\.tree\.tar\.gz`, `bac120_rN\.tree`}},
	{"ar53-tree", "", []string{`ar53_rN\.tree\.gz`, `ar53_rN\.tree\.tar\.gz`, `ar53_rN\.tree`}},
	{"ar122-tree", "", []string{`ar122_rN\.tree\.gz`, `ar122_rN\.tree\.tar\.gz`, `ar122_rN\.tree`}},
	{"genomes-reps", "genomic_files_reps/", []string{`gtdb_genomes_reps_rN\.tar\.gz`}},
	{"ssu-all", "genomic_files_all/", []string{`ssu_all_rN\.fna\.gz`}},
	{"gtdbtk-data", "auxillary_files/gtdbtk_package/full_package/", []string{`gtdbtk_rN(_v[0-9]+)?_data\.tar\.gz`}},
	{"gtdbtk-data", "auxillary_files/", []string{`gtdbtk_rN(_v[0-9]+)?_data\.tar\.gz`}},
}

var (
	gtdbReleaseRE = regexp.MustCompile(`^release([0-9]+)/$`)
	gtdbVersionRE = regexp.MustCompile(`^([0-9]+)\.([0-9]+)/$`)
)

// gtdbLess orders rows by release number, then product.
func gtdbLess(a, b []string) bool {
	ra, rb := atoi(strings.TrimPrefix(a[0], "release")), atoi(strings.TrimPrefix(b[0], "release"))
	if ra != rb {
		return ra < rb
	}
	return gtdbProductIndex(a[2]) < gtdbProductIndex(b[2])
}

func gtdbProductIndex(name string) int {
	return slices.IndexFunc(gtdbProducts, func(p gtdbProduct) bool { return p.name == name })
}

// Refresh implements Refresher.
func (g GTDB) Refresh(ctx context.Context, c *http.Client) (Table, error) {
	l := &dirLister{c: c, seen: map[string][]index.Link{}}
	root, err := l.list(ctx, g.Releases)
	if err != nil {
		return Table{}, err
	}
	type release struct {
		n   int
		dir string
	}
	var releases []release
	for _, ln := range root {
		if m := gtdbReleaseRE.FindStringSubmatch(ln.Name); m != nil {
			n, _ := strconv.Atoi(m[1])
			releases = append(releases, release{n, ln.Name})
		}
	}
	if len(releases) == 0 {
		return Table{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s lists no releaseNNN/ directories: is it GTDB's releases/ listing?", g.Releases)}
	}
	sort.Slice(releases, func(i, j int) bool { return releases[i].n < releases[j].n })
	tab := Table{Columns: []string{"release", "version", "name", "path", "md5"}, Key: []string{"release", "name"}, Less: gtdbLess}
	for _, r := range releases {
		rows, err := g.release(ctx, l, r.n, r.dir)
		if err != nil {
			return Table{}, err
		}
		tab.Rows = append(tab.Rows, rows...)
	}
	return tab, nil
}

// release lists the rows of release n (directory dir below Releases): the
// products found in its latest version.
func (g GTDB) release(ctx context.Context, l *dirLister, n int, dir string) ([][]string, error) {
	links, err := l.list(ctx, g.Releases+dir)
	if err != nil {
		return nil, err
	}
	version, major, minor := "", -1, -1
	for _, ln := range links {
		m := gtdbVersionRE.FindStringSubmatch(ln.Name)
		if m == nil {
			continue
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if a > major || a == major && b > minor {
			version, major, minor = strings.TrimSuffix(ln.Name, "/"), a, b
		}
	}
	if version == "" {
		return nil, nil // a release directory without a version yet
	}
	vdir := g.Releases + dir + version + "/"
	top, err := l.list(ctx, vdir)
	if err != nil {
		return nil, err
	}
	md5 := ""
	if hasLink(top, "MD5SUM.txt") {
		md5 = g.Public + dir + version + "/MD5SUM.txt"
	}
	release := strings.TrimSuffix(dir, "/")
	var rows [][]string
	done := map[string]bool{}
	for _, p := range gtdbProducts {
		if done[p.name] {
			continue
		}
		links, ok, err := l.below(ctx, vdir, p.dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if file := pickFile(links, p.patterns, n); file != "" {
			rows = append(rows, []string{release, version, p.name, p.dir + file, md5})
			done[p.name] = true
		}
	}
	return rows, nil
}

// pickFile is the first pattern's greatest match among the links' file
// names, with N replaced by the release number.
func pickFile(links []index.Link, patterns []string, n int) string {
	for _, p := range patterns {
		re := regexp.MustCompile("^" + strings.ReplaceAll(p, "N", strconv.Itoa(n)) + "$")
		best := ""
		for _, ln := range links {
			if re.MatchString(ln.Name) && ln.Name > best {
				best = ln.Name
			}
		}
		if best != "" {
			return best
		}
	}
	return ""
}

func hasLink(links []index.Link, name string) bool {
	for _, ln := range links {
		if ln.Name == name {
			return true
		}
	}
	return false
}

// dirLister reads directory listings once each.
type dirLister struct {
	c    *http.Client
	seen map[string][]index.Link
}

func (l *dirLister) list(ctx context.Context, dir string) ([]index.Link, error) {
	if links, ok := l.seen[dir]; ok {
		return links, nil
	}
	u, err := url.Parse(dir)
	if err != nil {
		return nil, fmt.Errorf("listing URL %q: %w", dir, err)
	}
	body, err := listing.GetPage(ctx, l.c, dir)
	if err != nil {
		return nil, err
	}
	links := index.Links(u, body)
	l.seen[dir] = links
	return links, nil
}

// below lists the subdirectory sub ("a/b/") of dir, walking down only
// through directories each listing shows; ok is false when one is not
// there.
func (l *dirLister) below(ctx context.Context, dir, sub string) ([]index.Link, bool, error) {
	links, err := l.list(ctx, dir)
	if err != nil {
		return nil, false, err
	}
	for _, part := range strings.SplitAfter(sub, "/") {
		if part == "" {
			continue
		}
		if !hasLink(links, part) {
			return nil, false, nil
		}
		dir += part
		if links, err = l.list(ctx, dir); err != nil {
			return nil, false, err
		}
	}
	return links, true, nil
}
