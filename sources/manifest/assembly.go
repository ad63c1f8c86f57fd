package manifest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
	"github.com/astroingest/astroingest/sources/listing"
)

type assembly struct {
	line int
	dir  string // ftp_path as https
}

// assemblySummary reads NCBI's assembly_summary.txt: "#"-comment lines, the
// last of which before the data is the header ("#assembly_accession\t..."),
// then lists the files of every assembly it keeps.
func (k Kind) assemblySummary(ctx context.Context, c *http.Client, x *entryCtx) ([]sources.Object, error) {
	body, err := listing.Get(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	rows, err := assemblyRows(body, x)
	if err != nil {
		return nil, err
	}
	per := make([][]sources.Object, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	limit := k.Concurrency
	if limit <= 0 {
		limit = 4
	}
	g.SetLimit(limit)
	for i, a := range rows {
		g.Go(func() error {
			objs, err := assemblyFiles(gctx, c, x, a)
			per[i] = objs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var objs []sources.Object
	for _, p := range per {
		objs = append(objs, p...)
	}
	return objs, nil
}

// assemblyRows reads the summary's lines: the header, then one assembly
// per data line that passes the entry's filter and has a directory.
func assemblyRows(body []byte, x *entryCtx) ([]assembly, error) {
	var header []string
	col := map[string]int{}
	var rows []assembly
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if h := strings.TrimSpace(strings.TrimPrefix(line, "#")); strings.HasPrefix(h, "assembly_accession") {
				header = strings.Split(h, "\t")
				for i, name := range header {
					col[strings.TrimSpace(name)] = i
				}
			}
			continue
		}
		if header == nil {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: data before the \"#assembly_accession\" header line", x.e.URL, n)}
		}
		a, keep, err := assemblyRow(x, col, strings.Split(line, "\t"), n)
		if err != nil {
			return nil, err
		}
		if keep {
			rows = append(rows, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", x.e.URL, err)
	}
	if header == nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: no \"#assembly_accession\" header line; is this an assembly_summary.txt?", x.e.URL)}
	}
	return rows, nil
}

// assemblyRow is the assembly of data line n; keep is false when the
// entry's filter leaves it out or it has no directory (ftp_path na).
func assemblyRow(x *entryCtx, col map[string]int, rec []string, n int) (a assembly, keep bool, err error) {
	fcol, fval := x.filterCol, x.filterVal
	fi, ok := col["ftp_path"]
	if !ok {
		return a, false, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: header has no ftp_path column", x.e.URL)}
	}
	if fcol != "" {
		if _, ok := col[fcol]; !ok {
			return a, false, fmt.Errorf("%s: params filter: %s has no column %q", x.where, x.e.URL, fcol)
		}
	}
	get := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	if fcol != "" && get(col[fcol]) != fval {
		return a, false, nil
	}
	fp := get(fi)
	if fp == "" || fp == "na" {
		return a, false, nil
	}
	bad := func(msg string) error {
		return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: ftp_path %q%s", x.e.URL, n, fp, msg)}
	}
	u, err := url.Parse(fp)
	if err != nil || u.Host == "" {
		return a, false, bad(" is not a URL")
	}
	if u.Scheme == "ftp" {
		// Old summaries say ftp://ftp.ncbi.nlm.nih.gov; the same tree is
		// served over https.
		u.Scheme = "https"
	}
	if !sources.FetchableURL(u) {
		return a, false, bad(": unsupported scheme")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if path.Base(u.Path) == "" || path.Base(u.Path) == "/" {
		return a, false, bad(" has no directory")
	}
	return assembly{line: n, dir: u.String()}, true, nil
}

// assemblyFiles lists one assembly directory through its md5checksums.txt.
func assemblyFiles(ctx context.Context, c *http.Client, x *entryCtx, a assembly) ([]sources.Object, error) {
	dirName := path.Base(a.dir)
	l, err := checksum.Fetch(ctx, c, a.dir+"/md5checksums.txt")
	if err != nil {
		return nil, fmt.Errorf("assembly on %s line %d: %w", x.e.URL, a.line, err)
	}
	base, _ := url.Parse(a.dir + "/")
	var objs []sources.Object
	for _, en := range l.Entries {
		if !x.filter.Match(en.Name) || !validName(en.Name) {
			continue
		}
		cs := en.Checksum
		objs = append(objs, sources.Object{
			Name:     dirName + "/" + en.Name,
			URL:      resolve(base, en.Name),
			Size:     -1,
			Checksum: &cs,
		})
	}
	return objs, nil
}
