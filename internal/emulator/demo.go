package emulator

// The demo world: every emulator mounted on one Server, filled with files laid
// out like the real publishers', and the registry that mirrors them. It backs
// `astroingest demo` (a newcomer's first look, and benchmarks) and tests that
// want the whole pipeline at once.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	// DemoCDSEnv names the credential the demo registry declares for its
	// emulated CDS, as the real registry does for cds.climate.copernicus.eu.
	DemoCDSEnv = "CDS_API_KEY"
	// DemoCDSToken is the token the demo's CDS emulator accepts. It is not a
	// secret: it opens nothing but the emulator.
	DemoCDSToken = "demo-cds-token-not-a-secret"
	// DefaultDemoEntries is the size of the default demo registry.
	DefaultDemoEntries = 300
	// DefaultDemoSeed seeds the demo content when DemoOptions.Seed is 0.
	DefaultDemoSeed = 20240501
	// MaxDemoEntries bounds DemoOptions.Entries: the emulators hold their
	// listings in memory, and dates must stay four-digit years.
	MaxDemoEntries = 20000
)

// DemoOptions configure StartDemo.
type DemoOptions struct {
	// Entries is how many registry entries the world serves (exactly);
	// 0 means DefaultDemoEntries. It must be at least DemoMinEntries().
	// Data volume grows with it, about 0.4 MiB per entry.
	Entries int
	// Seed derives every file's size and content; the same seed gives
	// byte-identical files, listings and registry (but for the port).
	// 0 means DefaultDemoSeed.
	Seed int64
}

// Demo is a running demo world. Close it when done.
type Demo struct {
	Server *Server
	MAST   *MAST
	CDS    *CDS
	TAP    *TAP

	// Registry maps registry file names (hosts.yaml, climate.yaml, ...,
	// tables/*.tsv) to their content; see RegistryFS.
	Registry map[string][]byte
	// Entries is the number of entries the registry expands to; Objects and
	// Bytes are what a complete mirror of it holds (files the entries'
	// filters leave out are not counted).
	Entries int
	Objects int
	Bytes   int64
	// Kinds counts entries per kind, manifest ones as "manifest/<format>";
	// Domains counts entries per domain.
	Kinds   map[string]int
	Domains map[string]int
}

// Close stops the emulators.
func (d *Demo) Close() { d.Server.Close() }

// RegistryFS is the registry as a file system, for sources.Load(fsys, ".").
func (d *Demo) RegistryFS() fs.FS {
	m := fstest.MapFS{}
	for name, data := range d.Registry {
		m[name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return m
}

// WriteRegistry writes the registry files into dir (created if needed), for
// use with --registry while the demo keeps serving.
func (d *Demo) WriteRegistry(dir string) error {
	for name, data := range d.Registry {
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
func (d *Demo) Getenv(name string) string {
	if name == DemoCDSEnv {
		return DemoCDSToken
	}
	return ""
}

// demoFamilies are the families of the demo world. Fixed ones always have
// the same entries; the rest share what --entries leaves, by weight.
var demoFamilies = []struct {
	name   string
	weight int // 0: fixed
	fixed  int
	build  func(b *demoBuilder, n int)
}{
	{"ersst", 30, 0, (*demoBuilder).ersst},
	{"gaia-source", 24, 0, (*demoBuilder).gaiaSource},
	{"phoenix", 14, 0, (*demoBuilder).phoenix},
	{"era5", 6, 0, (*demoBuilder).era5},
	{"rocke3d", 4, 0, (*demoBuilder).rocke3d},
	{"uniprot-proteomes", 5, 0, (*demoBuilder).uniprotProteomes},
	{"kepler", 6, 0, (*demoBuilder).kepler},
	{"jwst", 3, 0, (*demoBuilder).jwst},
	{"eso-muse", 2, 0, (*demoBuilder).esoMUSE},
	{"eso-spectra", 4, 0, (*demoBuilder).esoSpectra},
	{"gem", 2, 0, (*demoBuilder).gem},
	{"ncbi-refseq", 0, 4, (*demoBuilder).ncbiRefseq},
	{"ncbi-taxonomy", 0, 3, (*demoBuilder).ncbiTaxonomy},
	{"uniprot-release", 0, 2, (*demoBuilder).uniprotRelease},
	{"gaia-ap", 0, 1, (*demoBuilder).gaiaAP},
	{"gaia-spectra", 0, 3, (*demoBuilder).gaiaSpectra},
	{"phoenix-wave", 0, 1, (*demoBuilder).phoenixWave},
	{"tess", 0, 2, (*demoBuilder).tess},
}

// DemoMinEntries is the smallest registry that still has every family (so
// every kind, manifest format and listing style) at least once.
func DemoMinEntries() int {
	n := 0
	for _, f := range demoFamilies {
		if f.weight == 0 {
			n += f.fixed
		} else {
			n++
		}
	}
	return n
}

// demoAllocate gives each family its number of entries, summing to total.
func demoAllocate(total int) []int {
	counts := make([]int, len(demoFamilies))
	rest, weights := total, 0
	for i, f := range demoFamilies {
		if f.weight == 0 {
			counts[i] = f.fixed
			rest -= f.fixed
		} else {
			weights += f.weight
		}
	}
	// Every scalable family gets one entry, then a share of the rest by
	// weight; rounding leftovers go to the first, heaviest family.
	scalable := 0
	for _, f := range demoFamilies {
		if f.weight > 0 {
			scalable++
		}
	}
	extra, given := rest-scalable, 0
	for i, f := range demoFamilies {
		if f.weight > 0 {
			share := extra * f.weight / weights
			counts[i] = 1 + share
			given += share
		}
	}
	counts[0] += extra - given
	return counts
}

// StartDemo starts the emulators on 127.0.0.1 and fills them.
func StartDemo(opts DemoOptions) (*Demo, error) {
	if opts.Entries == 0 {
		opts.Entries = DefaultDemoEntries
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultDemoSeed
	}
	if min := DemoMinEntries(); opts.Entries < min || opts.Entries > MaxDemoEntries {
		return nil, fmt.Errorf("demo entries %d: want %d to %d (the smallest demo still covers every kind and domain)", opts.Entries, min, MaxDemoEntries)
	}
	srv := NewServer()
	b := &demoBuilder{
		srv:  srv,
		base: srv.URL(),
		seed: opts.Seed,
		demo: &Demo{
			Server:   srv,
			Registry: map[string][]byte{},
			Kinds:    map[string]int{},
			Domains:  map[string]int{},
		},
		byDomain: map[string][]yFamily{},
	}
	b.mast = NewMAST(MASTOptions{Prefix: "/mast"})
	b.cds = NewCDS(CDSOptions{Prefix: "/cds", Token: DemoCDSToken})
	b.tap = NewTAP(TAPOptions{Prefix: "/eso/tap_obs", FileBase: b.base + "/dataPortal/file"})
	srv.Handle("/mast/", b.mast)
	srv.Handle("/cds/", b.cds)
	srv.Handle("/eso/tap_obs/", b.tap)
	b.demo.MAST, b.demo.CDS, b.demo.TAP = b.mast, b.cds, b.tap

	for i, n := range demoAllocate(opts.Entries) {
		demoFamilies[i].build(b, n)
	}
	if err := b.finish(); err != nil {
		srv.Close()
		return nil, err
	}
	return b.demo, nil
}

// ---- registry YAML (sources/SCHEMA.md) ----

type yHost struct {
	Host        string  `yaml:"host"`
	Concurrency int     `yaml:"concurrency"`
	RPS         float64 `yaml:"rps"`
	Burst       int     `yaml:"burst"`
	Credential  *yCred  `yaml:"credential,omitempty"`
}

type yCred struct {
	Env      string `yaml:"env"`
	Header   string `yaml:"header"`
	Required bool   `yaml:"required"`
}

type yFamily struct {
	ID              string    `yaml:"id"`
	Domain          string    `yaml:"domain"`
	Title           string    `yaml:"title"`
	Description     string    `yaml:"description"`
	Provider        string    `yaml:"provider"`
	License         string    `yaml:"license"`
	Citation        string    `yaml:"citation"`
	DOI             string    `yaml:"doi,omitempty"`
	Homepage        string    `yaml:"homepage,omitempty"`
	Kind            string    `yaml:"kind"`
	Schedule        string    `yaml:"schedule"`
	AllowHTTP       bool      `yaml:"allow_http"`
	AllowHTTPReason string    `yaml:"allow_http_reason"`
	Expand          []yExpand `yaml:"expand,omitempty"`
	Entry           yEntry    `yaml:"entry"`
}

type yExpand struct {
	Dates *yDates `yaml:"dates,omitempty"`
	List  *yList  `yaml:"list,omitempty"`
	Table *yTable `yaml:"table,omitempty"`
}

type yDates struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Step string `yaml:"step"`
}

type yList struct {
	Var    string   `yaml:"var"`
	Values []string `yaml:"values"`
}

type yTable struct {
	File    string     `yaml:"file,omitempty"`
	Columns []string   `yaml:"columns,omitempty"`
	Rows    [][]string `yaml:"rows,omitempty"`
}

type yEntry struct {
	ID        string            `yaml:"id"`
	Key       string            `yaml:"key"`
	URL       string            `yaml:"url"`
	Checksums string            `yaml:"checksums,omitempty"`
	Params    map[string]string `yaml:"params,omitempty"`
}

// realMeta is the real product's metadata, which the demo copies and marks.
type realMeta struct {
	title, desc, provider, license, citation, doi, homepage string
}

// ---- builder ----

var demoModTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

type demoBuilder struct {
	srv  *Server
	mast *MAST
	cds  *CDS
	tap  *TAP
	base string
	seed int64
	demo *Demo

	byDomain map[string][]yFamily
	tapRows  [][]string
	esoIDs   map[string]bool
}

// h is a deterministic 64-bit hash of the seed and the parts.
func (b *demoBuilder) h(parts ...string) uint64 {
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

// size is a deterministic size in [lo, hi).
func (b *demoBuilder) size(key string, lo, hi int64) int64 {
	return lo + int64(b.h("size", key)%uint64(hi-lo))
}

// gen adds a generated file (streamed, never held in memory) of a size in
// [lo, hi) at p and returns the size.
func (b *demoBuilder) gen(p string, lo, hi int64) int64 {
	n := b.size(p, lo, hi)
	b.srv.AddGenerated(p, n, int64(b.h("content", p)))
	return n
}

// text adds a small text file and returns its size.
func (b *demoBuilder) text(p, body string) int64 {
	b.srv.AddFile(p, []byte(body), demoModTime)
	return int64(len(body))
}

// expect records one object a complete mirror holds.
func (b *demoBuilder) expect(size int64) {
	b.demo.Objects++
	b.demo.Bytes += size
}

// family adds a family of n entries; kind is the label counted in Kinds.
func (b *demoBuilder) family(f yFamily, m realMeta, kindLabel string, n int) {
	f.ID = "demo-" + f.ID
	f.Title = "DEMO: " + m.title
	f.Description = "Demo data served by `astroingest demo`: deterministic pseudo-random bytes laid out like the real product, not the real files. Real product: " + m.desc
	f.Provider = m.provider + " (emulated by astroingest demo)"
	f.License = m.license + " [licence of the real product; these demo bytes are synthetic]"
	f.Citation = m.citation + " [cite the real product, never this demo data]"
	f.DOI, f.Homepage = m.doi, m.homepage
	f.AllowHTTP = true
	f.AllowHTTPReason = "the demo's emulated publishers listen on plain http on 127.0.0.1"
	b.byDomain[f.Domain] = append(b.byDomain[f.Domain], f)
	b.demo.Entries += n
	b.demo.Kinds[kindLabel] += n
	b.demo.Domains[f.Domain] += n
}

func (b *demoBuilder) finish() error {
	b.tap.AddTable("ivoa.ObsCore", []string{"dp_id", "access_url", "instrument_name", "dataproduct_type", "t_min", "access_estsize"}, b.tapRows)
	host := strings.TrimPrefix(b.base, "http://")
	hosts := struct {
		Hosts []yHost `yaml:"hosts"`
	}{[]yHost{{
		Host: host, Concurrency: 16, RPS: 2000, Burst: 200,
		// Not required: with the registry used outside the demo and no
		// token, only the CDS entries fail (auth), the rest still run.
		Credential: &yCred{Env: DemoCDSEnv, Header: "PRIVATE-TOKEN", Required: false},
	}}}
	head := "# Generated by astroingest demo: the emulated publishers at " + b.base + ".\n# The port changes with every start; regenerate rather than edit.\n"
	out, err := yaml.Marshal(hosts)
	if err != nil {
		return fmt.Errorf("demo registry: %w", err)
	}
	b.demo.Registry["hosts.yaml"] = append([]byte(head), out...)
	for domain, fams := range b.byDomain {
		out, err := yaml.Marshal(struct {
			Families []yFamily `yaml:"families"`
		}{fams})
		if err != nil {
			return fmt.Errorf("demo registry: %w", err)
		}
		b.demo.Registry[domain+".yaml"] = append([]byte(head), out...)
	}
	return nil
}

// ---- climate ----

// ersst: NOAA ERSST v5, one netCDF per month, plain http without checksums
// (NCEI publishes none), so unchanged files are found by conditional GET.
func (b *demoBuilder) ersst(n int) {
	last := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	first := last.AddDate(0, -(n - 1), 0)
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		b.expect(b.gen(fmt.Sprintf("/pub/data/cmb/ersst/v5/netcdf/ersst.v5.%04d%02d.nc", m.Year(), int(m.Month())), 120<<10, 140<<10))
	}
	b.family(yFamily{
		ID: "noaa-ersst-v5", Domain: "climate", Kind: "http", Schedule: "monthly",
		Expand: []yExpand{{Dates: &yDates{From: first.Format("2006-01"), To: last.Format("2006-01"), Step: "month"}}},
		Entry: yEntry{
			ID:  "demo-noaa-ersst-v5-{yyyy}{mm}",
			Key: "demo/noaa/ersst-v5/ersst.v5.{yyyy}{mm}.nc",
			URL: b.base + "/pub/data/cmb/ersst/v5/netcdf/ersst.v5.{yyyy}{mm}.nc",
		},
	}, realMeta{
		title:    "NOAA Extended Reconstructed Sea Surface Temperature (ERSST) v5, monthly",
		desc:     "global 2-degree monthly SST analysis from ICOADS, one netCDF file per month.",
		provider: "NOAA National Centers for Environmental Information",
		license:  "Public domain (U.S. Government work); no restrictions",
		citation: "Huang, B., et al. (2017): NOAA Extended Reconstructed Sea Surface Temperature (ERSST), Version 5. NOAA NCEI. doi:10.7289/V5T72FNM",
		doi:      "10.7289/V5T72FNM", homepage: "https://www.ncei.noaa.gov/products/extended-reconstructed-sst",
	}, "http", n)
}

// era5: ERA5 monthly means through the CDS retrieve API (job submission,
// status polling, results, download), one variable-year per entry. The CDS
// emulator serves one result file per dataset, so entries of a dataset
// share their bytes.
func (b *demoBuilder) era5(n int) {
	type ds struct {
		id, short, title, doi string
		vars                  []string
		first                 int
		size                  int64
	}
	sets := []ds{
		{"reanalysis-era5-single-levels-monthly-means", "sl", "ERA5 monthly averaged data on single levels from 1940 to present", "10.24381/cds.f17050d7",
			[]string{"2m_temperature", "total_precipitation", "mean_sea_level_pressure"}, 1940, 0},
		{"reanalysis-era5-land-monthly-means", "land", "ERA5-Land monthly averaged data from 1950 to present", "10.24381/cds.68d2bb30",
			[]string{"2m_temperature", "total_precipitation"}, 1950, 0},
	}
	const licence = "licence-to-use-copernicus-products"
	for i := range sets {
		sets[i].size = b.size("cds:"+sets[i].id, 600<<10, 1000<<10)
		b.cds.AddDataset(sets[i].id, CDSDataset{Licences: []string{licence}, Size: sets[i].size})
	}
	b.cds.AcceptLicences(licence)
	rows := make([][][]string, len(sets))
	for i := range n {
		s := i % len(sets)
		k := i / len(sets)
		v := sets[s].vars[k%len(sets[s].vars)]
		year := 2025 - k/len(sets[s].vars)
		rows[s] = append(rows[s], []string{v, fmt.Sprint(year)})
		b.expect(sets[s].size)
	}
	for s, set := range sets {
		if len(rows[s]) == 0 {
			continue
		}
		b.family(yFamily{
			ID: "era5-" + set.short + "-monthly", Domain: "climate", Kind: "cds", Schedule: "yearly",
			Expand: []yExpand{{Table: &yTable{Columns: []string{"variable", "year"}, Rows: rows[s]}}},
			Entry: yEntry{
				ID:  "demo-era5-" + set.short + "-monthly-{variable}-{year}",
				Key: "demo/era5/" + set.id + "/{variable}/{year}.nc",
				URL: b.base + "/cds/api",
				Params: map[string]string{
					"dataset": set.id,
					"request": `{{"product_type":["monthly_averaged_reanalysis"],"variable":["{variable}"],"year":["{year}"],"month":["01","02","03","04","05","06","07","08","09","10","11","12"],"time":["00:00"],"data_format":"netcdf","download_format":"unarchived"}}`,
				},
			},
		}, realMeta{
			title:    set.title,
			desc:     "monthly means of the ECMWF ERA5 reanalysis; one variable-year per entry, retrieved through the CDS API.",
			provider: "ECMWF / Copernicus Climate Change Service (C3S)",
			license:  "Licence to use Copernicus Products",
			citation: "Hersbach, H., et al. (2023): " + set.title + ". Copernicus Climate Change Service (C3S) Climate Data Store (CDS). doi:" + set.doi,
			doi:      set.doi, homepage: "https://cds.climate.copernicus.eu/datasets/" + set.id,
		}, "cds", len(rows[s]))
	}
}

// rocke3d: GISS ROCKE-3D run directories behind an nginx autoindex; each
// entry takes the run's *.nc files and leaves its README out.
func (b *demoBuilder) rocke3d(n int) {
	var rows [][]string
	for i := range n {
		run := fmt.Sprintf("P%02d_%s", i%36+1, []string{"aqua", "land", "ocean", "snowball"}[i/36%4])
		if i >= 144 {
			run += fmt.Sprintf("_r%d", i/144)
		}
		rows = append(rows, []string{run})
		dir := "/GISS_modelE/ROCKE-3D/publication-supplements/Tsigaridis2025GMD-planet_2.0/" + run + "/"
		for _, d := range []string{"aij", "aijl", "oijl"} {
			b.expect(b.gen(dir+"ANN"+run+"."+d+".nc", 60<<10, 240<<10))
		}
		b.text(dir+"README.txt", "ROCKE-3D run "+run+": annual means of the last 10 model years.\n")
	}
	b.srv.SetListing("/GISS_modelE/", Nginx)
	b.family(yFamily{
		ID: "giss-rocke3d-tsigaridis2025", Domain: "climate", Kind: "index", Schedule: "yearly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"run"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-giss-rocke3d-{run}",
			Key:    "demo/giss/rocke3d/Tsigaridis2025GMD-planet_2.0/{run}",
			URL:    b.base + "/GISS_modelE/ROCKE-3D/publication-supplements/Tsigaridis2025GMD-planet_2.0/{run}/",
			Params: map[string]string{"include": "*.nc"},
		},
	}, realMeta{
		title:    "ROCKE-3D 2.0 planet_2.0 simulations (GISS ModelE for rocky planets), publication supplement",
		desc:     "annual-mean netCDF diagnostics of ROCKE-3D ocean configurations; one run directory per entry.",
		provider: "NASA Goddard Institute for Space Studies",
		license:  "Public domain (NASA data; U.S. Government work)",
		citation: "Tsigaridis, K., et al. (2025): ROCKE-3D 2.0: an updated general circulation model for simulating the climates of rocky planets. Geosci. Model Dev. 18, 5825",
		doi:      "10.3847/1538-4365/aa7a06", homepage: "https://portal.nccs.nasa.gov/GISS_modelE/ROCKE-3D/",
	}, "index", n)
}

// ---- biology ----

var demoOrganisms = []string{"Escherichia coli str. K-12 substr. MG1655", "Bacillus subtilis subsp. subtilis str. 168",
	"Methanocaldococcus jannaschii DSM 2661", "Saccharomyces cerevisiae S288C", "Pseudomonas aeruginosa PAO1",
	"Haloferax volcanii DS2", "Aspergillus nidulans FGSC A4", "Enterobacteria phage T4", "Mycobacterium tuberculosis H37Rv",
	"Sulfolobus acidocaldarius DSM 639", "Neurospora crassa OR74A", "Human immunodeficiency virus 1"}

// ncbiRefseq: NCBI RefSeq assembly_summary.txt per group; each entry takes
// the reference genomes' sequence, annotation and report files, checked
// against every assembly directory's md5checksums.txt. Representative and
// suppressed (ftp_path na) rows and unlisted file types are left out.
func (b *demoBuilder) ncbiRefseq(n int) {
	groups := []string{"archaea", "bacteria", "fungi", "viral"}[:n]
	for gi, g := range groups {
		var as []Assembly
		for k := range 4 {
			num := 1000 + gi*4000 + k*997 + int(b.h("acc", g)%500)
			acc := fmt.Sprintf("GCF_%09d.%d", num, 1+k%2)
			asm := fmt.Sprintf("ASM%dv%d", num%100000, 1+k%3)
			org := demoOrganisms[(gi*4+k)%len(demoOrganisms)]
			cat := "reference genome"
			switch k {
			case 2:
				cat = "representative genome"
			}
			a := Assembly{Accession: acc, AsmName: asm, Fields: map[string]string{
				"refseq_category": cat, "organism_name": org, "taxid": fmt.Sprint(num + 7), "species_taxid": fmt.Sprint(num + 7),
				"group": g, "bioproject": fmt.Sprintf("PRJNA%d", 57000+num), "biosample": fmt.Sprintf("SAMN%08d", 2600000+num),
			}}
			if k == 3 {
				a.Fields["ftp_path"] = "na" // suppressed: no directory
				a.Fields["version_status"] = "suppressed"
			}
			as = append(as, a)
			if k == 3 {
				continue
			}
			dir := AssemblyDir(acc, asm)
			pre := path.Base(dir)
			keep := cat == "reference genome"
			add := func(size int64) {
				if keep {
					b.expect(size)
				}
			}
			add(b.gen(dir+"/"+pre+"_genomic.fna.gz", 300<<10, 700<<10))
			add(b.gen(dir+"/"+pre+"_genomic.gff.gz", 80<<10, 200<<10))
			add(b.gen(dir+"/"+pre+"_protein.faa.gz", 100<<10, 300<<10))
			add(b.text(dir+"/"+pre+"_assembly_report.txt", fmt.Sprintf("# Assembly name:  %s\n# Organism name:  %s\n# Taxid:          %d\n# RefSeq assembly accession: %s\n# DEMO DATA generated by astroingest demo\n", asm, org, num+7, acc)))
			b.gen(dir+"/"+pre+"_rna_from_genomic.fna.gz", 20<<10, 60<<10) // not included
		}
		b.srv.AddAssemblySummary("/genomes/refseq/"+g+"/assembly_summary.txt", as)
	}
	b.family(yFamily{
		ID: "ncbi-refseq-reference-genomes", Domain: "biology", Kind: "manifest", Schedule: "monthly",
		Expand: []yExpand{{List: &yList{Var: "group", Values: groups}}},
		Entry: yEntry{
			ID:  "demo-ncbi-refseq-{group}-reference",
			Key: "demo/ncbi/genomes/refseq/{group}/reference-genomes",
			URL: b.base + "/genomes/refseq/{group}/assembly_summary.txt",
			Params: map[string]string{
				"format":  "assembly_summary",
				"include": "*_genomic.fna.gz,*_genomic.gff.gz,*_protein.faa.gz,*_assembly_report.txt",
				// *_genomic.fna.gz alone would also take the RNA and CDS
				// FASTA files (*_rna_from_genomic.fna.gz), as it does on NCBI.
				"exclude": "*_from_genomic.fna.gz",
				"filter":  "refseq_category=reference genome",
			},
		},
	}, realMeta{
		title:    "NCBI RefSeq reference genomes, by taxonomic group",
		desc:     "genome sequence, annotation and protein files of every RefSeq assembly flagged 'reference genome' in the group's assembly_summary.txt.",
		provider: "National Center for Biotechnology Information (NCBI)",
		license:  "Public domain within the U.S.; NCBI places no restrictions on use (NCBI Website and Data Usage Policies)",
		citation: "O'Leary, N.A., et al. (2016): Reference sequence (RefSeq) database at NCBI. Nucleic Acids Res. 44, D733-D745, doi:10.1093/nar/gkv1189",
		doi:      "10.1093/nar/gkv1189", homepage: "https://www.ncbi.nlm.nih.gov/refseq/",
	}, "manifest/assembly_summary", len(groups))
}

// ncbiTaxonomy: single files with an .md5 file next to each, as NCBI
// publishes them (http kind with a checksums listing).
func (b *demoBuilder) ncbiTaxonomy(n int) {
	rows := [][]string{
		{"taxdump-tar-gz", "taxdump.tar.gz"},
		{"new-taxdump", "new_taxdump/new_taxdump.tar.gz"},
		{"acc2taxid-pdb", "accession2taxid/pdb.accession2taxid.gz"},
	}[:n]
	for _, r := range rows {
		p := "/pub/taxonomy/" + r[1]
		b.expect(b.gen(p, 300<<10, 1200<<10))
		b.srv.AddChecksumFile(p+".md5", MD5Sum)
	}
	b.family(yFamily{
		ID: "ncbi-taxonomy", Domain: "biology", Kind: "http", Schedule: "weekly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"name", "path"}, Rows: rows}}},
		Entry: yEntry{
			ID:        "demo-ncbi-taxonomy-{name}",
			Key:       "demo/ncbi/taxonomy/{path}",
			URL:       b.base + "/pub/taxonomy/{path}",
			Checksums: b.base + "/pub/taxonomy/{path}.md5",
		},
	}, realMeta{
		title:    "NCBI Taxonomy dumps and accession-to-taxid maps",
		desc:     "the taxonomy database dumps and accession-to-taxid tables, each with its .md5 file.",
		provider: "National Center for Biotechnology Information (NCBI)",
		license:  "Public domain within the U.S.; NCBI places no restrictions on use (NCBI Website and Data Usage Policies)",
		citation: "Schoch, C.L., et al. (2020): NCBI Taxonomy: a comprehensive update on curation, resources and tools. Database 2020, baaa062, doi:10.1093/database/baaa062",
		doi:      "10.1093/database/baaa062", homepage: "https://www.ncbi.nlm.nih.gov/taxonomy",
	}, "http", n)
}

var uniprotMeta = realMeta{
	provider: "UniProt Consortium (EMBL-EBI, SIB, PIR)",
	license:  "CC BY 4.0",
	citation: "The UniProt Consortium (2023): UniProt: the Universal Protein Knowledgebase in 2023. Nucleic Acids Res. 51, D523-D531, doi:10.1093/nar/gkac1052",
	doi:      "10.1093/nar/gkac1052",
}

// uniprotRelease: knowledgebase folders verified against their
// RELEASE.metalink (metalink 3.0 with ftp mirrors only, as UniProt's).
func (b *demoBuilder) uniprotRelease(n int) {
	folders := map[string][]string{
		"complete":            {"uniprot_sprot.dat.gz", "uniprot_sprot.fasta.gz", "uniprot_sprot_varsplic.fasta.gz", "uniprot_trembl.fasta.gz"},
		"taxonomic_divisions": {"uniprot_sprot_archaea.dat.gz", "uniprot_sprot_bacteria.dat.gz", "uniprot_sprot_human.dat.gz", "uniprot_trembl_human.dat.gz"},
	}
	names := []string{"complete", "taxonomic_divisions"}[:n]
	for _, f := range names {
		dir := "/pub/databases/uniprot/current_release/knowledgebase/" + f + "/"
		for _, name := range folders[f] {
			b.expect(b.gen(dir+name, 400<<10, 1400<<10))
		}
		b.srv.AddChecksumFile(dir+"RELEASE.metalink", Metalink)
	}
	m := uniprotMeta
	m.title = "UniProtKB current release: complete Swiss-Prot/TrEMBL files and taxonomic divisions"
	m.desc = "all files of the knowledgebase folders, verified against each folder's RELEASE.metalink."
	m.homepage = "https://www.uniprot.org/help/downloads"
	b.family(yFamily{
		ID: "uniprot-knowledgebase-release", Domain: "biology", Kind: "manifest", Schedule: "monthly",
		Expand: []yExpand{{List: &yList{Var: "folder", Values: names}}},
		Entry: yEntry{
			ID:     "demo-uniprot-knowledgebase-{folder}",
			Key:    "demo/uniprot/knowledgebase/{folder}",
			URL:    b.base + "/pub/databases/uniprot/current_release/knowledgebase/{folder}/RELEASE.metalink",
			Params: map[string]string{"format": "metalink"},
		},
	}, m, "manifest/metalink", n)
}

// uniprotProteomes: reference proteome folders behind an Apache HTMLTable
// listing; the DNA files are excluded as in a protein-only mirror.
func (b *demoBuilder) uniprotProteomes(n int) {
	known := [][]string{
		{"Eukaryota", "UP000005640", "9606"}, {"Eukaryota", "UP000000589", "10090"}, {"Eukaryota", "UP000002311", "559292"},
		{"Eukaryota", "UP000001940", "6239"}, {"Eukaryota", "UP000000803", "7227"}, {"Eukaryota", "UP000000437", "7955"},
		{"Eukaryota", "UP000006548", "3702"}, {"Bacteria", "UP000000625", "83333"}, {"Bacteria", "UP000001584", "83332"},
		{"Archaea", "UP000000805", "243232"}, {"Viruses", "UP000002241", "11676"},
	}
	var rows [][]string
	for i := range n {
		var r []string
		if i < len(known) {
			r = known[i]
		} else {
			r = []string{[]string{"Bacteria", "Archaea", "Eukaryota"}[i%3], fmt.Sprintf("UP%09d", 100000+i*7919), fmt.Sprint(1000 + i*13)}
		}
		rows = append(rows, r)
		dir := "/pub/databases/uniprot/current_release/knowledgebase/reference_proteomes/" + r[0] + "/" + r[1] + "/"
		pre := r[1] + "_" + r[2]
		b.expect(b.gen(dir+pre+".fasta.gz", 100<<10, 300<<10))
		b.expect(b.gen(dir+pre+"_additional.fasta.gz", 40<<10, 120<<10))
		b.expect(b.gen(dir+pre+".gene2acc.gz", 10<<10, 40<<10))
		b.expect(b.gen(dir+pre+".idmapping.gz", 40<<10, 120<<10))
		b.gen(dir+pre+"_DNA.fasta.gz", 50<<10, 150<<10) // excluded
		b.gen(dir+pre+"_DNA.miss.gz", 1<<10, 4<<10)     // excluded
	}
	b.srv.SetListing("/pub/databases/uniprot/", ApacheTable)
	m := uniprotMeta
	m.title = "UniProt reference proteomes"
	m.desc = "one reference proteome folder per entry: canonical and additional FASTA, gene-to-accession and ID mapping."
	m.homepage = "https://www.uniprot.org/help/reference_proteome"
	b.family(yFamily{
		ID: "uniprot-reference-proteomes", Domain: "biology", Kind: "index", Schedule: "monthly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"superregnum", "upid", "taxid"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-uniprot-proteome-{upid}",
			Key:    "demo/uniprot/reference_proteomes/{superregnum}/{upid}",
			URL:    b.base + "/pub/databases/uniprot/current_release/knowledgebase/reference_proteomes/{superregnum}/{upid}/",
			Params: map[string]string{"include": "{upid}_{taxid}*", "exclude": "*_DNA.*"},
		},
	}, m, "index", n)
}

// gem: JGI GEM metagenome-assembled genomes, one TSV table per ecosystem
// naming each genome's FASTA (a relative URL), md5 and size.
func (b *demoBuilder) gem(n int) {
	ecos := []string{"Engineered", "Environmental-Aquatic", "Environmental-Terrestrial", "Host-associated-Human", "Host-associated-Plants"}
	var rows [][]string
	for i := range n {
		eco := ecos[i%len(ecos)]
		if i >= len(ecos) {
			eco += fmt.Sprintf("-%d", i/len(ecos)+1)
		}
		rows = append(rows, []string{eco})
		var t strings.Builder
		t.WriteString("genome_id\tecosystem\tfile\tmd5\tsize\n")
		for k := range 6 {
			id := fmt.Sprintf("3300%06d_%d", 12000+i*31+k*7, k+1)
			p := "/GEM/genomes/fna/" + id + ".fna.gz"
			sz := b.gen(p, 60<<10, 200<<10)
			b.expect(sz)
			fmt.Fprintf(&t, "%s\t%s\tfna/%s.fna.gz\t%s\t%d\n", id, eco, id, b.srv.MD5(p), sz)
		}
		b.text("/GEM/genomes/"+eco+"_genomes.tsv", t.String())
	}
	b.family(yFamily{
		ID: "jgi-gem-mags", Domain: "biology", Kind: "manifest", Schedule: "yearly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"ecosystem"}, Rows: rows}}},
		Entry: yEntry{
			ID:  "demo-jgi-gem-{ecosystem}",
			Key: "demo/jgi-gem/genomes/{ecosystem}",
			URL: b.base + "/GEM/genomes/{ecosystem}_genomes.tsv",
			Params: map[string]string{
				"format": "table", "url_column": "file", "checksum_column": "md5", "algo": "md5", "size_column": "size",
			},
		},
	}, realMeta{
		title:    "Genomes from Earth's Microbiomes (GEM) catalogue",
		desc:     "metagenome-assembled genomes, one FASTA per genome, listed with md5 and size in a table per ecosystem.",
		provider: "DOE Joint Genome Institute (JGI), hosted at NERSC",
		license:  "Publicly released by DOE JGI; JGI data use policy applies (cite Nayfach et al. 2021)",
		citation: "Nayfach, S., et al. (2021): A genomic catalog of Earth's microbiomes. Nat. Biotechnol. 39, 499-509, doi:10.1038/s41587-020-0718-6",
		doi:      "10.1038/s41587-020-0718-6", homepage: "https://portal.nersc.gov/GEM/",
	}, "manifest/table", n)
}

// ---- astronomy ----

var gaiaMeta = realMeta{
	provider: "European Space Agency (ESA) / Gaia DPAC",
	license:  "CC BY-SA 3.0 IGO",
	citation: "Gaia Collaboration, Vallenari, A., et al. (2023): Gaia Data Release 3. Summary of the content and survey properties. A&A 674, A1, doi:10.1051/0004-6361/202243940",
	doi:      "10.1051/0004-6361/202243940", homepage: "https://www.cosmos.esa.int/web/gaia/dr3",
}

// gaiaRanges are contiguous HEALPix ranges like GaiaSource_000000-003111.
func (b *demoBuilder) gaiaRanges(table string, n int) []string {
	var out []string
	start := 0
	for i := range n {
		end := start + 1000 + int(b.h(table, fmt.Sprint(i))%3000)
		out = append(out, fmt.Sprintf("%06d-%06d", start, end))
		start = end + 1
	}
	return out
}

// gaiaSource: single bulk files (http kind) checked against the folder's
// _MD5SUM.txt; the range list is a table file of the registry, as the real one.
func (b *demoBuilder) gaiaSource(n int) {
	var tsv strings.Builder
	tsv.WriteString("# GaiaSource file ranges of the demo's emulated gaia_source folder\nrange\n")
	for _, r := range b.gaiaRanges("gaia_source", n) {
		b.expect(b.gen("/Gaia/gdr3/gaia_source/GaiaSource_"+r+".csv.gz", 200<<10, 400<<10))
		tsv.WriteString(r + "\n")
	}
	b.srv.AddChecksumFile("/Gaia/gdr3/gaia_source/_MD5SUM.txt", MD5Sum)
	b.demo.Registry["tables/gaia-dr3-gaia-source.tsv"] = []byte(tsv.String())
	m := gaiaMeta
	m.title = "Gaia DR3 gaia_source bulk CSV files"
	m.desc = "the main Gaia DR3 source catalogue, one gzipped CSV per HEALPix level-8 range."
	b.family(yFamily{
		ID: "gaia-dr3-gaia-source", Domain: "astronomy", Kind: "http", Schedule: "yearly",
		Expand: []yExpand{{Table: &yTable{File: "tables/gaia-dr3-gaia-source.tsv"}}},
		Entry: yEntry{
			ID:        "demo-gaia-dr3-gaia-source-{range}",
			Key:       "demo/gaia/dr3/gaia_source/GaiaSource_{range}.csv.gz",
			URL:       b.base + "/Gaia/gdr3/gaia_source/GaiaSource_{range}.csv.gz",
			Checksums: b.base + "/Gaia/gdr3/gaia_source/_MD5SUM.txt",
		},
	}, m, "http", n)
}

// gaiaAP: a whole folder named by its _MD5SUM.txt (manifest md5sum).
func (b *demoBuilder) gaiaAP(int) {
	dir := "/Gaia/gdr3/Astrophysical_parameters/astrophysical_parameters/"
	for _, r := range b.gaiaRanges("astrophysical_parameters", 6) {
		b.expect(b.gen(dir+"AstrophysicalParameters_"+r+".csv.gz", 200<<10, 400<<10))
	}
	b.srv.AddChecksumFile(dir+"_MD5SUM.txt", MD5Sum)
	m := gaiaMeta
	m.title = "Gaia DR3 astrophysical_parameters bulk CSV files"
	m.desc = "Apsis astrophysical parameters for Gaia DR3 sources; every file listed in the folder's _MD5SUM.txt."
	b.family(yFamily{
		ID: "gaia-dr3-astrophysical-parameters", Domain: "astronomy", Kind: "manifest", Schedule: "yearly",
		Entry: yEntry{
			ID:     "demo-gaia-dr3-astrophysical-parameters",
			Key:    "demo/gaia/dr3/Astrophysical_parameters/astrophysical_parameters",
			URL:    b.base + dir + "_MD5SUM.txt",
			Params: map[string]string{"format": "md5sum"},
		},
	}, m, "manifest/md5sum", 1)
}

// kepler: per-target light curve folders in an S3 bucket (like STScI's
// public bucket), listed with ListObjectsV2 in small pages; only the long
// cadence _llc.fits files are taken.
func (b *demoBuilder) kepler(n int) {
	var rows [][]string
	quarters := []string{"2009131105131", "2009166043257", "2009259160929", "2009350155506", "2010078095331"}
	for i := range n {
		kic := fmt.Sprintf("%09d", 757076+i*9973)
		rows = append(rows, []string{kic[:4], kic})
		dir := "/stpubdata/kepler/public/lightcurves/" + kic[:4] + "/" + kic + "/"
		for q := range 1 + int(b.h("kepler", kic)%4) + 1 {
			b.expect(b.gen(dir+"kplr"+kic+"-"+quarters[q]+"_llc.fits", 40<<10, 100<<10))
			b.gen(dir+"kplr"+kic+"-"+quarters[q]+"_lpd-targ.fits.gz", 20<<10, 50<<10) // excluded
		}
	}
	b.srv.SetListing("/stpubdata/", S3)
	b.srv.SetS3PageSize(4)
	b.family(yFamily{
		ID: "kepler-target-lightcurves", Domain: "astronomy", Kind: "index", Schedule: "once",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"prefix", "kic"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-kepler-kic-{kic}-llc",
			Key:    "demo/kepler/lightcurves/{prefix}/{kic}",
			URL:    b.base + "/stpubdata/?list-type=2&prefix=kepler/public/lightcurves/{prefix}/{kic}/",
			Params: map[string]string{"include": "*_llc.fits"},
		},
	}, realMeta{
		title:    "Kepler long-cadence light curves of selected targets",
		desc:     "all quarters' long-cadence light curve FITS files (_llc.fits) of one Kepler target per entry, from the public S3 bucket.",
		provider: "NASA Kepler mission / MAST (STScI)",
		license:  "Public domain (NASA mission data)",
		citation: "Borucki, W.J., et al. (2010): Kepler Planet-Detection Mission: Introduction and First Results. Science 327, 977-980, doi:10.1126/science.1185402",
		doi:      "10.1126/science.1185402", homepage: "https://archive.stsci.edu/missions-and-data/kepler",
	}, "index", n)
}

// jwst: MAST Portal queries per program; products other than calibrated
// level-3 SCIENCE files, exclusive-access and HST observations are left out
// by the entry's filters. MAST products live in memory, so they stay small.
func (b *demoBuilder) jwst(n int) {
	known := []string{"1345", "2736", "1366", "1324", "1727", "1895", "2107", "1536", "1802", "1290"}
	var rows [][]string
	obsid := 87600000
	for i := range n {
		prog := fmt.Sprint(3000 + i*7)
		if i < len(known) {
			prog = known[i]
		}
		pn, _ := strconv.Atoi(prog)
		rows = append(rows, []string{prog})
		for o := range 3 {
			obsid++
			rights := "PUBLIC"
			if o == 2 {
				rights = "EXCLUSIVE_ACCESS"
			}
			obsID := fmt.Sprintf("jw%05d-o%03d_t%03d_nircam_clear-f%03dw", pn, o+1, 20+o, 150+50*o)
			cal := fmt.Sprintf("jw%05d%03d001_02101_00001_nrca1_cal.fits", pn, o+1)
			products := []MASTProduct{
				{Filename: obsID + "_i2d.fits", Size: b.size(obsID+"_i2d", 150<<10, 300<<10), Fields: map[string]any{"productType": "SCIENCE", "calib_level": 3, "productSubGroupDescription": "I2D"}},
				{Filename: obsID + "_cat.ecsv", Size: b.size(obsID+"_cat", 4<<10, 16<<10), Fields: map[string]any{"productType": "AUXILIARY", "calib_level": 3, "productSubGroupDescription": "CAT"}},
				{Filename: obsID + "_i2d.jpg", Size: b.size(obsID+"_jpg", 4<<10, 12<<10), Fields: map[string]any{"productType": "PREVIEW", "calib_level": 3, "productSubGroupDescription": "I2D"}},
				{Filename: cal, Size: b.size(cal, 8<<10, 24<<10), Fields: map[string]any{"productType": "SCIENCE", "calib_level": 2, "productSubGroupDescription": "CAL"}},
			}
			b.mast.AddObservation(map[string]any{
				"obsid": fmt.Sprint(obsid), "obs_id": obsID, "obs_collection": "JWST", "proposal_id": prog,
				"instrument_name": "NIRCAM/IMAGE", "dataRights": rights, "target_name": fmt.Sprintf("FIELD-%s-%d", prog, o+1),
			}, products...)
			if rights == "PUBLIC" {
				b.expect(products[0].Size)
			}
		}
		obsid++
		b.mast.AddObservation(map[string]any{
			"obsid": fmt.Sprint(obsid), "obs_id": "hst_" + prog + "_01_wfc3_ir_f160w", "obs_collection": "HST", "proposal_id": prog,
			"instrument_name": "WFC3/IR", "dataRights": "PUBLIC", "target_name": "FIELD-" + prog,
		}, MASTProduct{Filename: "hst_" + prog + "_01_wfc3_ir_f160w_drz.fits", Size: 8 << 10, Fields: map[string]any{"productType": "SCIENCE", "calib_level": 3}})
	}
	b.family(yFamily{
		ID: "jwst-programs", Domain: "astronomy", Kind: "mast", Schedule: "monthly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"program"}, Rows: rows}}},
		Entry: yEntry{
			ID:  "demo-jwst-program-{program}",
			Key: "demo/jwst/programs/{program}",
			URL: b.base + "/mast",
			Params: map[string]string{
				"service":        "Mast.Caom.Filtered",
				"filters":        `[{{"paramName":"obs_collection","values":["JWST"]}},{{"paramName":"proposal_id","values":["{program}"]}},{{"paramName":"dataRights","values":["PUBLIC"]}}]`,
				"product_filter": `{{"productType":["SCIENCE"],"calib_level":[3]}}`,
			},
		},
	}, realMeta{
		title:    "JWST public science products by program (MAST)",
		desc:     "calibrated (level 3) science products of every public observation in one JWST program, per entry.",
		provider: "STScI / MAST (NASA, ESA, CSA James Webb Space Telescope)",
		license:  "Public domain (NASA mission data; products past their exclusive access period)",
		citation: "Gardner, J.P., et al. (2023): The James Webb Space Telescope Mission. PASP 135, 068001, doi:10.1088/1538-3873/acd1b5",
		doi:      "10.1088/1538-3873/acd1b5", homepage: "https://mast.stsci.edu/",
	}, "mast", n)
}

// tess: MAST's per-sector bulk download scripts (curl lines into the
// Download/file API), mirrored with the manifest kind's curl_script format.
func (b *demoBuilder) tess(n int) {
	var rows [][]string
	for s := 1; s <= n; s++ {
		rows = append(rows, []string{fmt.Sprint(s)})
		var files []ScriptFile
		var products []MASTProduct
		for k := range 8 {
			tic := 8195886 + s*100003 + k*7717
			name := fmt.Sprintf("tess2018206045859-s%04d-%016d-0120-s_lc.fits", s, tic)
			size := b.size(name, 24<<10, 64<<10)
			products = append(products, MASTProduct{Filename: name, Size: size, Fields: map[string]any{"productType": "SCIENCE", "calib_level": 2}})
			b.expect(size)
			// MAST's scripts write ".../Download/file/?uri="; the MAST
			// emulator answers the form without the slash.
			files = append(files, ScriptFile{Name: name, URL: b.base + "/mast/api/v0.1/Download/file?uri=mast:TESS/product/" + name})
		}
		b.mast.AddObservation(map[string]any{
			"obsid": fmt.Sprint(90000000 + s), "obs_id": fmt.Sprintf("tess-s%04d-lc", s), "obs_collection": "TESS",
			"proposal_id": "N/A", "instrument_name": "Photometer", "dataRights": "PUBLIC",
		}, products...)
		b.srv.AddScript(fmt.Sprintf("/missions/tess/download_scripts/sector/tesscurl_sector_%d_lc.sh", s), CurlScript, files)
	}
	b.family(yFamily{
		ID: "tess-sector-lightcurves", Domain: "astronomy", Kind: "manifest", Schedule: "once",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"sector"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-tess-sector-{sector}-lc",
			Key:    "demo/tess/sector-{sector}/lc",
			URL:    b.base + "/missions/tess/download_scripts/sector/tesscurl_sector_{sector}_lc.sh",
			Params: map[string]string{"format": "curl_script", "include": "*_lc.fits"},
		},
	}, realMeta{
		title:    "TESS 2-minute cadence light curves by sector (MAST bulk download scripts)",
		desc:     "every light curve file named in MAST's tesscurl_sector_N_lc.sh script, one sector per entry.",
		provider: "NASA TESS mission / MAST (STScI)",
		license:  "Public domain (NASA mission data)",
		citation: "Ricker, G.R., et al. (2015): Transiting Exoplanet Survey Satellite (TESS). J. Astron. Telesc. Instrum. Syst. 1, 014003, doi:10.1117/1.JATIS.1.1.014003",
		doi:      "10.1117/1.JATIS.1.1.014003", homepage: "https://archive.stsci.edu/tess/bulk_downloads.html",
	}, "manifest/curl_script", n)
}

// mjd is the Modified Julian Date of 1 January of year.
func mjd(year int) int {
	return int(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

// esoProducts adds ObsCore rows (and their files) for one instrument-year.
func (b *demoBuilder) esoProducts(inst, ptype string, year, count int, lo, hi int64) {
	for k := range count {
		day := int(b.h(inst, fmt.Sprint(year), fmt.Sprint(k)) % 360)
		t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day).Add(time.Duration(b.h("t", inst, fmt.Sprint(year, k))%86_400_000) * time.Millisecond)
		dp := "ADP." + t.Format("2006-01-02T15:04:05.000")
		for b.esoIDs[dp] {
			t = t.Add(time.Millisecond)
			dp = "ADP." + t.Format("2006-01-02T15:04:05.000")
		}
		if b.esoIDs == nil {
			b.esoIDs = map[string]bool{}
		}
		b.esoIDs[dp] = true
		size := b.gen("/dataPortal/file/"+dp, lo, hi)
		b.expect(size)
		tmin := float64(mjd(year)+day) + float64(t.Hour())/24
		b.tapRows = append(b.tapRows, []string{dp, "{files}/" + dp, inst, ptype, fmt.Sprintf("%.5f", tmin), fmt.Sprint(size / 1000)})
	}
}

var esoMeta = realMeta{
	provider: "European Southern Observatory (ESO) Science Archive Facility",
	license:  "ESO Data Access Policy: public after the proprietary period; users must acknowledge ESO and cite the programme IDs",
	homepage: "https://archive.eso.org/scienceportal/home",
}

// esoMUSE: ESO Phase 3 cubes through TAP, one ADQL query per year.
func (b *demoBuilder) esoMUSE(n int) {
	var rows [][]string
	for i := range n {
		year := 2015 + i
		rows = append(rows, []string{fmt.Sprint(year), fmt.Sprint(mjd(year)), fmt.Sprint(mjd(year + 1))})
		b.esoProducts("MUSE", "cube", year, 2, 500<<10, 1500<<10)
	}
	m := esoMeta
	m.title = "ESO MUSE reduced data cubes (Phase 3), per year"
	m.desc = "pipeline-reduced MUSE integral-field data cubes released through the ESO Science Archive, one observing year per entry."
	m.citation = "Based on data obtained from the ESO Science Archive Facility. Bacon, R., et al. (2010): The MUSE second-generation VLT instrument. Proc. SPIE 7735, 773508, doi:10.1117/12.856027"
	m.doi = "10.1117/12.856027"
	b.family(yFamily{
		ID: "eso-muse-cubes", Domain: "astronomy", Kind: "tap", Schedule: "monthly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"year", "mjd0", "mjd1"}, Rows: rows}}},
		Entry: yEntry{
			ID:  "demo-eso-muse-cubes-{year}",
			Key: "demo/eso/phase3/muse/{year}",
			URL: b.base + "/eso/tap_obs",
			Params: map[string]string{
				"query":      "SELECT dp_id, access_url FROM ivoa.ObsCore WHERE instrument_name = 'MUSE' AND dataproduct_type = 'cube' AND t_min >= {mjd0} AND t_min < {mjd1}",
				"url_column": "access_url",
			},
		},
	}, m, "tap", n)
}

// ---- spectroscopy ----

// esoSpectra: ESO Phase 3 1D spectra through TAP, per instrument-year.
func (b *demoBuilder) esoSpectra(n int) {
	insts := []string{"UVES", "HARPS", "FEROS", "XSHOOTER", "ESPRESSO", "NIRPS"}
	var rows [][]string
	for i := range n {
		inst := insts[i%len(insts)]
		year := 2024 - i/len(insts)
		rows = append(rows, []string{inst, strings.ToLower(inst), fmt.Sprint(year), fmt.Sprint(mjd(year)), fmt.Sprint(mjd(year + 1))})
		b.esoProducts(inst, "spectrum", year, 3, 40<<10, 160<<10)
	}
	m := esoMeta
	m.title = "ESO reduced spectra (Phase 3), per instrument and year"
	m.desc = "pipeline-reduced 1D spectra released through the ESO Science Archive, one instrument-year per entry."
	m.citation = "Based on data obtained from the ESO Science Archive Facility (Phase 3 spectral data products); cite the instrument paper and programme IDs listed in each product header."
	b.family(yFamily{
		ID: "eso-spectra", Domain: "spectroscopy", Kind: "tap", Schedule: "monthly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"instrument", "inst", "year", "mjd0", "mjd1"}, Rows: rows}}},
		Entry: yEntry{
			ID:  "demo-eso-spectra-{inst}-{year}",
			Key: "demo/eso/phase3/{inst}/{year}",
			URL: b.base + "/eso/tap_obs",
			Params: map[string]string{
				"query":      "SELECT dp_id, access_url FROM ivoa.ObsCore WHERE instrument_name = '{instrument}' AND dataproduct_type = 'spectrum' AND t_min >= {mjd0} AND t_min < {mjd1}",
				"url_column": "access_url",
			},
		},
	}, m, "tap", n)
}

var phoenixMeta = realMeta{
	provider: "Institut fuer Astrophysik, Georg-August-Universitaet Goettingen (PHOENIX)",
	license:  "Free for scientific use; publications must cite Husser et al. (2013)",
	citation: "Husser, T.-O., et al. (2013): A new extensive library of PHOENIX stellar atmospheres and synthetic spectra. A&A 553, A6, doi:10.1051/0004-6361/201219058",
	doi:      "10.1051/0004-6361/201219058", homepage: "https://phoenix.astro.physik.uni-goettingen.de/",
}

// phoenix: the HiResFITS grid behind Apache's fancy index, one metallicity
// folder and Teff per entry; each Teff has a run of log g values (the
// real grid has gaps, so entries take whatever files exist).
func (b *demoBuilder) phoenix(n int) {
	zdirs := []struct{ dir, id, z string }{
		{"Z-0.0", "m0.0", "-0.0"}, {"Z-0.5", "m0.5", "-0.5"}, {"Z+0.5", "p0.5", "+0.5"}, {"Z-1.0", "m1.0", "-1.0"},
		{"Z-1.5", "m1.5", "-1.5"}, {"Z-2.0", "m2.0", "-2.0"}, {"Z-3.0", "m3.0", "-3.0"}, {"Z-4.0", "m4.0", "-4.0"}, {"Z+1.0", "p1.0", "+1.0"},
	}
	var rows [][]string
	for i := range n {
		z := zdirs[i%len(zdirs)]
		teff := fmt.Sprintf("%05d", 2300+100*(i/len(zdirs)))
		rows = append(rows, []string{z.dir, z.id, teff})
		first := int(b.h("logg", z.dir, teff) % 6)
		count := 3 + int(b.h("nlogg", z.dir, teff)%3)
		for g := first; g < first+count; g++ {
			name := fmt.Sprintf("lte%s-%.2f%s.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits", teff, float64(g)*0.5+1, z.z)
			b.expect(b.gen("/data/HiResFITS/PHOENIX-ACES-AGSS-COND-2011/"+z.dir+"/"+name, 100<<10, 160<<10))
		}
	}
	m := phoenixMeta
	m.title = "PHOENIX-ACES-AGSS-COND-2011 high-resolution synthetic stellar spectra"
	m.desc = "R=500,000 synthetic spectra; one metallicity and effective temperature (all available surface gravities) per entry."
	b.family(yFamily{
		ID: "phoenix-aces-hires", Domain: "spectroscopy", Kind: "index", Schedule: "once",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"zdir", "zid", "teff"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-phoenix-hires-{zid}-{teff}",
			Key:    "demo/phoenix/HiResFITS/PHOENIX-ACES-AGSS-COND-2011/{zdir}/lte{teff}",
			URL:    b.base + "/data/HiResFITS/PHOENIX-ACES-AGSS-COND-2011/{zdir}/",
			Params: map[string]string{"include": "lte{teff}-*.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits"},
		},
	}, m, "index", n)
}

// phoenixWave: one file whose sha256 the registry states literally.
func (b *demoBuilder) phoenixWave(int) {
	p := "/data/HiResFITS/WAVE_PHOENIX-ACES-AGSS-COND-2011.fits"
	b.expect(b.gen(p, 900<<10, 1100<<10))
	m := phoenixMeta
	m.title = "PHOENIX-ACES-AGSS-COND-2011 high-resolution wavelength grid"
	m.desc = "the common wavelength array of all HiRes spectra."
	b.family(yFamily{
		ID: "phoenix-aces-hires-wavelength", Domain: "spectroscopy", Kind: "http", Schedule: "once",
		Entry: yEntry{
			ID:     "demo-phoenix-hires-wave",
			Key:    "demo/phoenix/HiResFITS/WAVE_PHOENIX-ACES-AGSS-COND-2011.fits",
			URL:    b.base + p,
			Params: map[string]string{"sha256": b.srv.SHA256(p)},
		},
	}, m, "http", 1)
}

// gaiaSpectra: the XP and RVS mean spectra folders, each by its _MD5SUM.txt.
func (b *demoBuilder) gaiaSpectra(n int) {
	rows := [][]string{
		{"xp-continuous", "xp_continuous_mean_spectrum", "XpContinuousMeanSpectrum"},
		{"xp-sampled", "xp_sampled_mean_spectrum", "XpSampledMeanSpectrum"},
		{"rvs", "rvs_mean_spectrum", "RvsMeanSpectrum"},
	}[:n]
	for _, r := range rows {
		dir := "/Gaia/gdr3/Spectroscopy/" + r[1] + "/"
		for _, rg := range b.gaiaRanges(r[1], 4) {
			b.expect(b.gen(dir+r[2]+"_"+rg+".csv.gz", 200<<10, 400<<10))
		}
		b.srv.AddChecksumFile(dir+"_MD5SUM.txt", MD5Sum)
	}
	m := gaiaMeta
	m.title = "Gaia DR3 mean spectra: BP/RP (XP) continuous and sampled, and RVS"
	m.desc = "bulk CSV files of Gaia DR3 XP and RVS mean spectra; every file listed in each folder's _MD5SUM.txt."
	b.family(yFamily{
		ID: "gaia-dr3-spectra", Domain: "spectroscopy", Kind: "manifest", Schedule: "yearly",
		Expand: []yExpand{{Table: &yTable{Columns: []string{"name", "folder", "stem"}, Rows: rows}}},
		Entry: yEntry{
			ID:     "demo-gaia-dr3-spectra-{name}",
			Key:    "demo/gaia/dr3/Spectroscopy/{folder}",
			URL:    b.base + "/Gaia/gdr3/Spectroscopy/{folder}/_MD5SUM.txt",
			Params: map[string]string{"format": "md5sum", "include": "{stem}_*.csv.gz"},
		},
	}, m, "manifest/md5sum", n)
}

// demoKeys lists the registry's file names in order, for stable output.
func (d *Demo) demoKeys() []string {
	keys := make([]string, 0, len(d.Registry))
	for k := range d.Registry {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RegistryText is every registry file, concatenated with a header per
// file, for showing or diffing the generated registry.
func (d *Demo) RegistryText() string {
	var b bytes.Buffer
	for _, k := range d.demoKeys() {
		fmt.Fprintf(&b, "### %s\n%s\n", k, d.Registry[k])
	}
	return b.String()
}
