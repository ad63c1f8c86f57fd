package manifest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

var mt = time.Date(2024, 6, 1, 10, 30, 0, 0, time.UTC)

func fixture(t *testing.T, s *emulator.Server, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../internal/emulator/testdata/files/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "{{BASE}}", s.URL()))
}

type want struct {
	name, url, algo, sum string
	size                 int64
}

func check(t *testing.T, s *emulator.Server, objs []sources.Object, wants []want, download bool) {
	t.Helper()
	slices.SortFunc(objs, func(a, b sources.Object) int { return strings.Compare(a.Name, b.Name) })
	if len(objs) != len(wants) {
		var got []string
		for _, o := range objs {
			got = append(got, o.Name)
		}
		t.Fatalf("got %d objects %q, want %d", len(objs), got, len(wants))
	}
	for i, w := range wants {
		o := objs[i]
		if o.Name != w.name || o.URL != s.URL()+w.url || o.Size != w.size {
			t.Errorf("object %d: %q %s size %d, want %q %s size %d", i, o.Name, o.URL, o.Size, w.name, s.URL()+w.url, w.size)
		}
		if (o.Checksum == nil) != (w.algo == "") || (o.Checksum != nil && (o.Checksum.Algo != w.algo || o.Checksum.Value != w.sum)) {
			t.Errorf("%s: checksum %+v, want %s %s", o.Name, o.Checksum, w.algo, w.sum)
		}
		if download && o.Checksum != nil && o.Checksum.Algo == "md5" {
			resp, err := s.Client().Get(o.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := md5.Sum(b)
			if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != o.Checksum.Value {
				t.Errorf("%s: served %d with md5 %x, listing says %s", o.Name, resp.StatusCode, sum, o.Checksum.Value)
			}
		}
	}
}

func run(t *testing.T, s *emulator.Server, url string, params map[string]string) ([]sources.Object, error) {
	t.Helper()
	return New().Objects(context.Background(), s.Client(), sources.Entry{ID: "m", File: "reg.yaml", Line: 9, URL: s.URL() + url, Params: params})
}

func TestMD5Sum(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/rel/md5sum.txt", fixture(t, s, "md5sum.txt"), mt)
	objs, err := run(t, s, "/rel/md5sum.txt", map[string]string{"format": "md5sum", "exclude": "sha.*"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, objs, []want{
		{"bar.dat", "/rel/bar.dat", "md5", "37b51d194a7513e45b56f6524f2d51f2", -1},
		{"hello.txt", "/rel/hello.txt", "md5", "5d41402abc4b2a76b9719d911017c592", -1},
		{"sub/foo.dat", "/rel/sub/foo.dat", "md5", "acbd18db4cc2f85cedef654fccc4a4d8", -1},
		{"world.bin", "/rel/world.bin", "md5", "7d793037a0760186574b0282f2f435e7", -1},
	}, false)

	// Against the emulator's own generated listing, every object downloads
	// with the listed md5.
	s.AddFile("/gen/x.fits", []byte("x-data"), mt)
	s.AddFile("/gen/y/z.fits", []byte("z-data"), mt)
	s.AddChecksumFile("/gen/md5checksums.txt", emulator.MD5SumDotSlash)
	objs, err = run(t, s, "/gen/md5checksums.txt", map[string]string{"format": "md5sum"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, objs, []want{
		{"x.fits", "/gen/x.fits", "md5", s.MD5("/gen/x.fits"), -1},
		{"y/z.fits", "/gen/y/z.fits", "md5", s.MD5("/gen/y/z.fits"), -1},
	}, true)
}

func TestMetalink(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/uniprot/knowledgebase/complete/RELEASE.metalink", fixture(t, s, "RELEASE.metalink"), mt)
	s.AddFile("/mirror/files.meta4", fixture(t, s, "files.meta4"), mt)
	objs, err := run(t, s, "/uniprot/knowledgebase/complete/RELEASE.metalink", map[string]string{"format": "metalink"})
	if err != nil {
		t.Fatal(err)
	}
	// Only ftp:// mirrors: the names resolve next to the metalink.
	check(t, s, objs, []want{
		{"uniprot_sprot.dat.gz", "/uniprot/knowledgebase/complete/uniprot_sprot.dat.gz", "md5", "5d41402abc4b2a76b9719d911017c592", 5},
		{"uniprot_sprot.fasta.gz", "/uniprot/knowledgebase/complete/uniprot_sprot.fasta.gz", "md5", "7d793037a0760186574b0282f2f435e7", 5},
	}, false)
	objs, err = run(t, s, "/mirror/files.meta4", map[string]string{"format": "metalink"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, objs, []want{
		{"cube.fits", "/mirror/cube.fits", "sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", 5},
	}, false)

	// The emulator's generated RELEASE.metalink agrees with what it serves.
	s.AddFile("/up/uniprot_trembl.xml.gz", []byte("trembl"), mt)
	s.AddGenerated("/up/uniprot_trembl.dat.gz", 300_000, 5)
	s.AddChecksumFile("/up/RELEASE.metalink", emulator.Metalink)
	objs, err = run(t, s, "/up/RELEASE.metalink", map[string]string{"format": "metalink", "include": "*.dat.gz"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, objs, []want{
		{"uniprot_trembl.dat.gz", "/up/uniprot_trembl.dat.gz", "md5", s.MD5("/up/uniprot_trembl.dat.gz"), 300_000},
	}, true)
}

func TestTable(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	csv := fixture(t, s, "table.csv")
	s.AddFile("/tbl/products.csv", csv, mt)
	s.AddFile("/tbl/products.tsv", []byte(strings.NewReplacer(",", "\t", `"cube	 two"`, "cube two").Replace(string(csv))), mt)
	s.AddFile("/tbl/data/cube1.fits", []byte("hello"), mt)
	s.AddFile("/tbl/data/cube2.fits", []byte("world"), mt)
	base := map[string]string{"format": "table", "checksum_column": "md5", "size_column": "bytes"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	objs, err := run(t, s, "/tbl/products.csv", with("algo", "md5"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, objs, []want{
		{"data/cube1.fits", "/tbl/data/cube1.fits", "md5", "5d41402abc4b2a76b9719d911017c592", 5},
		{"data/cube2.fits", "/tbl/data/cube2.fits", "md5", "7d793037a0760186574b0282f2f435e7", 5},
	}, true)
	objs, err = run(t, s, "/tbl/products.csv", with("name_column", "name"))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{objs[0].Name, objs[1].Name}; got[0] != "cube one" || got[1] != "cube, two" {
		t.Fatalf("names from name_column: %q", got)
	}
	objs, err = run(t, s, "/tbl/products.tsv", base)
	if err != nil || len(objs) != 2 {
		t.Fatalf("tsv by extension: %v %d", err, len(objs))
	}

	errs := []struct {
		params map[string]string
		msg    string
	}{
		{with("url_column", "link"), `reg.yaml:9: entry m: params url_column "link": ` + s.URL() + `/tbl/products.csv has no such column`},
		{with("algo", "sha256"), "products.csv line 3: checksum"},
		{with("algo", "crc"), `params algo "crc"`},
		{with("delimiter", "ab"), "params delimiter"},
	}
	for _, tc := range errs {
		if _, err := run(t, s, "/tbl/products.csv", tc.params); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("params %v: err %v, want %q", tc.params, err, tc.msg)
		}
	}
}

func TestAssemblySummaryFixture(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/genomes/refseq/assembly_summary_refseq.txt", fixture(t, s, "assembly_summary.txt"), mt)
	fly := "/genomes/all/GCF/000/001/215/GCF_000001215.4_Release_6_plus_ISO1_MT"
	ecoli := emulator.AssemblyDir("GCF_000005845.2", "ASM584v2")
	for _, d := range []string{fly, ecoli} {
		base := d[strings.LastIndex(d, "/")+1:]
		s.AddFile(d+"/"+base+"_genomic.fna.gz", []byte(base+"-fna"), mt)
		s.AddFile(d+"/"+base+"_protein.faa.gz", []byte(base+"-faa"), mt)
		s.AddFile(d+"/"+base+"_assembly_report.txt", []byte(base+"-report"), mt)
		s.AddChecksumFile(d+"/md5checksums.txt", emulator.MD5SumDotSlash)
	}
	flyBase, ecoliBase := "GCF_000001215.4_Release_6_plus_ISO1_MT", "GCF_000005845.2_ASM584v2"
	tests := []struct {
		name   string
		params map[string]string
		want   []want
	}{
		{"genomic of all live rows", map[string]string{"include": "*_genomic.fna.gz"}, []want{
			{flyBase + "/" + flyBase + "_genomic.fna.gz", fly + "/" + flyBase + "_genomic.fna.gz", "md5", s.MD5(fly + "/" + flyBase + "_genomic.fna.gz"), -1},
			{ecoliBase + "/" + ecoliBase + "_genomic.fna.gz", ecoli + "/" + ecoliBase + "_genomic.fna.gz", "md5", s.MD5(ecoli + "/" + ecoliBase + "_genomic.fna.gz"), -1},
		}},
		{"filter group", map[string]string{"include": "*.faa.gz,*_genomic.fna.gz", "filter": "group=bacteria"}, []want{
			{ecoliBase + "/" + ecoliBase + "_genomic.fna.gz", ecoli + "/" + ecoliBase + "_genomic.fna.gz", "md5", s.MD5(ecoli + "/" + ecoliBase + "_genomic.fna.gz"), -1},
			{ecoliBase + "/" + ecoliBase + "_protein.faa.gz", ecoli + "/" + ecoliBase + "_protein.faa.gz", "md5", s.MD5(ecoli + "/" + ecoliBase + "_protein.faa.gz"), -1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetRequests()
			tc.params["format"] = "assembly_summary"
			objs, err := run(t, s, "/genomes/refseq/assembly_summary_refseq.txt", tc.params)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(tc.want, func(a, b want) int { return strings.Compare(a.name, b.name) })
			check(t, s, objs, tc.want, true)
		})
	}
	// The suppressed row (ftp_path na) is never fetched, and only the
	// md5checksums.txt files are read, not the directories.
	s.ResetRequests()
	if _, err := run(t, s, "/genomes/refseq/assembly_summary_refseq.txt", map[string]string{"format": "assembly_summary", "include": "*"}); err != nil {
		t.Fatal(err)
	}
	if got := s.TotalRequests(); got != 3 {
		t.Fatalf("%d requests, want 3 (summary + two md5checksums.txt)", got)
	}
}

func TestAssemblySummaryEmulated(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	var as []emulator.Assembly
	for i, acc := range []string{"GCF_000000101.1", "GCF_000000102.1", "GCF_000000103.2"} {
		a := emulator.Assembly{Accession: acc, AsmName: "ASM" + acc[10:13] + "v1", Fields: map[string]string{"refseq_category": "na"}}
		if i == 1 {
			a.Fields["refseq_category"] = "reference genome"
		}
		as = append(as, a)
		d := emulator.AssemblyDir(a.Accession, a.AsmName)
		s.AddGenerated(d+"/"+acc+"_"+a.AsmName+"_genomic.fna.gz", 10_000+int64(i), int64(i))
	}
	as = append(as, emulator.Assembly{Accession: "GCF_000000999.1", AsmName: "x", Fields: map[string]string{"ftp_path": "na"}})
	s.AddAssemblySummary("/genomes/refseq/bacteria/assembly_summary.txt", as)
	objs, err := run(t, s, "/genomes/refseq/bacteria/assembly_summary.txt", map[string]string{
		"format": "assembly_summary", "include": "*_genomic.fna.gz", "filter": "refseq_category=reference genome"})
	if err != nil {
		t.Fatal(err)
	}
	d := emulator.AssemblyDir("GCF_000000102.1", "ASM102v1")
	check(t, s, objs, []want{{"GCF_000000102.1_ASM102v1/GCF_000000102.1_ASM102v1_genomic.fna.gz", d + "/GCF_000000102.1_ASM102v1_genomic.fna.gz", "md5", s.MD5(d + "/GCF_000000102.1_ASM102v1_genomic.fna.gz"), -1}}, true)

	objs, err = run(t, s, "/genomes/refseq/bacteria/assembly_summary.txt", map[string]string{"format": "assembly_summary", "include": "*_genomic.fna.gz"})
	if err != nil || len(objs) != 3 {
		t.Fatalf("unfiltered: %v, %d objects", err, len(objs))
	}

	// A failing assembly directory fails the entry, naming the summary line.
	s.Fault(emulator.AssemblyDir("GCF_000000103.2", "ASM103v1")+"/md5checksums.txt", emulator.Fault{Kind: emulator.Unavailable})
	_, err = run(t, s, "/genomes/refseq/bacteria/assembly_summary.txt", map[string]string{"format": "assembly_summary", "include": "*"})
	if err == nil || sources.ReasonOf(err) != sources.ReasonHTTP5xx || !strings.Contains(err.Error(), "assembly_summary.txt line 5") {
		t.Fatalf("err %v, want http_5xx naming line 5", err)
	}
}

func TestConfigErrors(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/x/list.txt", []byte("5d41402abc4b2a76b9719d911017c592  ../escape\n"), mt)
	s.AddFile("/x/dup.txt", []byte("5d41402abc4b2a76b9719d911017c592  a\n7d793037a0760186574b0282f2f435e7  ./a\n"), mt)
	s.AddFile("/x/not_summary.txt", []byte("hello\tworld\n"), mt)
	s.AddFile("/x/bad.metalink", []byte("<html>nope"), mt)
	tests := []struct {
		url    string
		params map[string]string
		msg    string
	}{
		{"/x/list.txt", nil, "reg.yaml:9: entry m: params format is required"},
		{"/x/list.txt", map[string]string{"format": "zip"}, `params format "zip"`},
		{"/x/list.txt", map[string]string{"format": "md5sum"}, `"../escape" is not a clean relative path`},
		{"/x/dup.txt", map[string]string{"format": "md5sum"}, `two files map to the name "a"`},
		{"/x/not_summary.txt", map[string]string{"format": "assembly_summary", "include": "*"}, "data before the \"#assembly_accession\" header"},
		{"/x/not_summary.txt", map[string]string{"format": "assembly_summary"}, "params include is required"},
		{"/x/not_summary.txt", map[string]string{"format": "assembly_summary", "include": "*", "filter": "nocolumn"}, "want column=value"},
		{"/x/bad.metalink", map[string]string{"format": "metalink"}, "is not metalink XML"},
		{"/x/missing.txt", map[string]string{"format": "md5sum"}, "404"},
	}
	for _, tc := range tests {
		if _, err := run(t, s, tc.url, tc.params); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %v: err %v, want %q", tc.url, tc.params, err, tc.msg)
		}
	}
}
