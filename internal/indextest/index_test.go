package indextest

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
)

// demoEntries is small enough to take seconds and still covers every
// source kind and all four domains.
const demoEntries = 40

// astroingest builds the real binary from the main module.
func astroingest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "astroingest")
	cmd := exec.Command("go", "build", "-C", "../..", "-o", bin, "./cmd/astroingest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/astroingest: %v\n%s", err, out)
	}
	return bin
}

// demo mirrors the demo's emulated sources into the file:// bucket dir,
// exactly as a newcomer's first command does.
func demo(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"demo", "--entries", fmt.Sprint(demoEntries), "--bucket", "file://" + dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("astroingest demo %v: %v\n%s", args, err, out)
	}
}

// query runs q and hands every row to each, which scans it.
func query(t *testing.T, db *sql.DB, q string, each func(*sql.Rows) error) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// scan is an each for query that scans the one row into dst.
func scan(dst ...any) func(*sql.Rows) error {
	return func(rows *sql.Rows) error { return rows.Scan(dst...) }
}

type tally struct {
	Objects int64
	Bytes   int64
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestIndexWithDuckDB runs the real engine (astroingest demo) into a
// file:// bucket and reads its object index as a notebook would, with
// DuckDB over the bucket's directory, holding every answer to the
// catalog, the heads and the objects on disk.
func TestIndexWithDuckDB(t *testing.T) {
	bin := astroingest(t)
	dir := t.TempDir()
	demo(t, bin, dir)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root := filepath.Join(dir, "annotations", "index")
	glob := root + "/*/*/*.parquet"
	all := fmt.Sprintf("read_parquet('%s', hive_partitioning=true)", glob)

	var cat annotations.Catalog
	readJSON(t, filepath.Join(dir, annotations.CatalogKey), &cat)
	if cat.Index != index.Prefix || len(cat.Entries) != demoEntries {
		t.Fatalf("catalog: index %q, %d entries; want %q and %d", cat.Index, len(cat.Entries), index.Prefix, demoEntries)
	}
	byDomain, byFamily := map[string]tally{}, map[[2]string]tally{}
	for _, e := range cat.Entries {
		d, f := byDomain[e.Domain], byFamily[[2]string{e.Domain, e.Family}]
		d.Objects, d.Bytes = d.Objects+int64(e.Objects), d.Bytes+e.Bytes
		f.Objects, f.Bytes = f.Objects+int64(e.Objects), f.Bytes+e.Bytes
		byDomain[e.Domain], byFamily[[2]string{e.Domain, e.Family}] = d, f
	}

	t.Run("by-domain", func(t *testing.T) {
		got := map[string]tally{}
		query(t, db, "SELECT domain, count(*), sum(size) FROM "+all+" GROUP BY domain", func(rows *sql.Rows) error {
			var d string
			var n tally
			err := rows.Scan(&d, &n.Objects, &n.Bytes)
			got[d] = n
			return err
		})
		if fmt.Sprint(got) != fmt.Sprint(byDomain) || len(got) != 4 {
			t.Errorf("index by domain %v, catalog %v", got, byDomain)
		}
	})

	t.Run("one-family", func(t *testing.T) {
		var fam [2]string
		for k, v := range byFamily {
			if v.Objects > byFamily[fam].Objects {
				fam = k
			}
		}
		part := fmt.Sprintf("read_parquet('%s/*.parquet', hive_partitioning=true)", filepath.Join(dir, index.FamilyPrefix(fam[0], fam[1])))
		for name, q := range map[string]string{
			"filter":    fmt.Sprintf("SELECT count(*), sum(size) FROM %s WHERE family = '%s'", all, fam[1]),
			"partition": "SELECT count(*), sum(size) FROM " + part,
		} {
			var got tally
			query(t, db, q, scan(&got.Objects, &got.Bytes))
			if got != byFamily[fam] {
				t.Errorf("%s, family %s: %+v, catalog %+v", name, fam[1], got, byFamily[fam])
			}
		}
	})

	t.Run("heads-name-their-files", func(t *testing.T) {
		heads, _ := filepath.Glob(filepath.Join(dir, annotations.ManifestPrefix, "*.json"))
		for _, p := range heads {
			var h annotations.Head
			readJSON(t, p, &h)
			var rows int
			query(t, db, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", filepath.Join(dir, h.Index)), scan(&rows))
			if h.Index != index.Key(h.Meta, nil) || rows != h.Objects {
				t.Errorf("head %s: index %q with %d rows, want %s with %d", h.ID, h.Index, rows, index.Key(h.Meta, nil), h.Objects)
			}
		}
		if len(heads) != demoEntries {
			t.Errorf("%d heads, want %d", len(heads), demoEntries)
		}
	})

	t.Run("objects-on-disk", func(t *testing.T) {
		n := 0
		query(t, db, "SELECT key, size, sha256 FROM "+all+" ORDER BY sha256 LIMIT 8", func(rows *sql.Rows) error {
			n++
			var key, sha string
			var size int64
			if err := rows.Scan(&key, &size, &sha); err != nil {
				return err
			}
			checkObject(t, dir, key, size, sha)
			return nil
		})
		if n != 8 {
			t.Errorf("%d rows sampled, want 8", n)
		}
	})

	t.Run("partition-columns-agree", func(t *testing.T) {
		// The files carry domain and family too: read without the path's
		// partitions, they must name the directory they are in.
		var bad, total int
		query(t, db, fmt.Sprintf(`SELECT count(*) FILTER (WHERE filename NOT LIKE '%%/domain=' || domain || '/family=' || family || '/%%'), count(*)
			FROM read_parquet('%s', hive_partitioning=false, filename=true)`, glob), scan(&bad, &total))
		if bad != 0 || total != int(sumObjects(byDomain)) {
			t.Errorf("%d of %d rows name another partition than their file's (want 0 of %d)", bad, total, sumObjects(byDomain))
		}
	})

	t.Run("schema-and-nulls", func(t *testing.T) { checkSchema(t, db, all) })

	t.Run("unchanged-rerun-rewrites-nothing", func(t *testing.T) {
		before := fileIDs(t, glob)
		demo(t, bin, dir, "--recheck")
		if after := fileIDs(t, glob); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("index files changed on an unchanged rerun:\nbefore %v\n after %v", before, after)
		}
	})
}

func sumObjects(m map[string]tally) int64 {
	var n int64
	for _, v := range m {
		n += v.Objects
	}
	return n
}

func checkObject(t *testing.T, dir, key string, size int64, sha string) {
	data, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		t.Errorf("row %s: %v", key, err)
		return
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != size || hex.EncodeToString(sum[:]) != sha {
		t.Errorf("row %s: size %d sha256 %s; the object on disk has %d, %x", key, size, sha, len(data), sum)
	}
}

// fileIDs identifies each index file by inode and modification time: a
// file:// bucket commits by renaming a new file into place.
func fileIDs(t *testing.T, glob string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("glob %s: %v, %d files", glob, err, len(paths))
	}
	out := map[string]string{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, filepath.Dir(glob))] = fmt.Sprint(fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime().UnixNano())
	}
	return out
}

// checkSchema holds the columns DuckDB sees to FORMAT.md's table, and
// the publisher checksum's two columns to being null together.
func checkSchema(t *testing.T, db *sql.DB, all string) {
	want := []string{
		"key VARCHAR", "size BIGINT", "sha256 VARCHAR", "publisher_checksum_algo VARCHAR", "publisher_checksum VARCHAR",
		"source_url VARCHAR", "content_type VARCHAR", "entry VARCHAR", "family VARCHAR", "domain VARCHAR",
		"license VARCHAR", "citation VARCHAR", "doi VARCHAR", "retrieved_at TIMESTAMP WITH TIME ZONE", "run_id VARCHAR",
	}
	var got []string
	query(t, db, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+all+")", func(rows *sql.Rows) error {
		var name, typ string
		err := rows.Scan(&name, &typ)
		got = append(got, name+" "+typ)
		return err
	})
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("columns:\n got %v\nwant %v", got, want)
	}
	var mismatched, withChecksum int
	query(t, db, "SELECT count(*) FILTER (WHERE (publisher_checksum IS NULL) != (publisher_checksum_algo IS NULL)), count(publisher_checksum) FROM "+all,
		scan(&mismatched, &withChecksum))
	if mismatched != 0 || withChecksum == 0 {
		t.Errorf("%d rows with only one of the checksum columns null (want 0); %d with a checksum (want some)", mismatched, withChecksum)
	}
}
