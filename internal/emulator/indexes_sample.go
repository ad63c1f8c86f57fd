package emulator

import (
	"fmt"
	"time"
)

// Paths of the sample indexes below a Server's URL, as the publishers
// serve them: GTDB's releases/ directory and HAPI's hapi.py (on GitHub's
// raw file host, below /hitranonline/hapi/master/).
const (
	GTDBReleasesPath = "/releases/"
	HAPIPath         = "/hitranonline/hapi/master/hapi/hapi.py"
)

// ServeIndexSamples puts small but realistic samples of the indexes "sources
// refresh" reads on s, at the publishers' own paths, and mounts a MAST
// emulator at /api/v0/invoke holding the JWST observations. What they hold
// (the tests check the refreshers' tables against it):
//   - TESS (RenderTESSBulkIndex at TESSBulkIndexPath, and the scripts
//     themselves in TESSScriptDir, listed by the tree): sector 1 lc, tp,
//     dv, cbv and the ffic/ffir FFI scripts; 27 and 95 lc, tp, dv, cbv,
//     fast-lc, fast-tp; 96 and 106 lc, tp, dv; 107 ffic only; 1751 ffic.
//   - GTDB (GTDBListing below GTDBReleasesPath): release202/202.0 (ar122,
//     metadata as .tar.gz, taxonomy as .tsv and .tsv.gz, gtdbtk in
//     auxillary_files/, no MD5SUM.txt); release214 with 214.0 and 214.1
//     (MD5SUM.txt, gtdbtk_r214_data.tar.gz); release226/226.0 (trees as
//     .tree.gz, the GTDB-Tk package in gtdbtk_package/full_package/); and
//     latest/, an alias.
//   - KEGG (/list/organism): six organisms, unsorted.
//   - JWST: public observations of programs 1180, 1366, 2736 (two) and
//     6585, one under exclusive access (program 9999), one HST (8880).
//   - HAPI (HAPIPath): twelve entries of HAPI 1.3.0.0's ISO table.
func (s *Server) ServeIndexSamples() *MAST {
	mod := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	s.serveTESSSample(mod)
	s.serveGTDBSample()
	s.AddFile("/list/organism", RenderKEGGOrganisms([]KEGGOrganism{
		{"T01001", "hsa", "Homo sapiens (human)", "Eukaryotes;Animals;Vertebrates;Mammals"},
		{"T00007", "eco", "Escherichia coli K-12 MG1655", "Prokaryotes;Bacteria;Enterobacteria;Escherichia"},
		{"T01002", "mmu", "Mus musculus (house mouse)", "Eukaryotes;Animals;Vertebrates;Mammals"},
		{"T00041", "ath", "Arabidopsis thaliana (thale cress)", "Eukaryotes;Plants;Eudicots;Mustard family"},
		{"T00005", "sce", "Saccharomyces cerevisiae (budding yeast)", "Eukaryotes;Fungi;Ascomycetes;Saccharomycetes"},
		{"T00025", "aae", "Aquifex aeolicus", "Prokaryotes;Bacteria;Aquificae;Aquifex"},
	}), mod)
	s.AddFile(HAPIPath, RenderHAPI("1.3.0.0", []HAPIIsotopologue{
		{1, 1, 1, "H2(16O)", 9.973173e-01, 1.8010565e+01, "H2O"},
		{1, 2, 2, "H2(18O)", 1.999827e-03, 2.0014811e+01, "H2O"},
		{1, 7, 129, "D2(16O)", 2.419741e-08, 2.0022915e+01, "H2O"},
		{2, 1, 7, "(12C)(16O)2", 9.842043e-01, 4.3989830e+01, "CO2"},
		{2, 9, 121, "(12C)(17O)2", 1.368466e-07, 4.5998262e+01, "CO2"},
		{2, 10, 15, "(13C)(18O)2", 4.446000e-08, 4.9001675e+01, "CO2"},
		{3, 1, 16, "(16O)3", 9.929009e-01, 4.7984745e+01, "O3"},
		{7, 1, 36, "(16O)2", 9.952616e-01, 3.1989830e+01, "O2"},
		{36, 1, 87, "(14N)(16O)+", 9.939737e-01, 2.9997989e+01, "NOp"},
		{56, 1, 158, "H3+", 9.995329e-01, 3.0234750e+00, "H3p"},
		{61, 1, 155, "(35Cl)(14N)(16O)2", 7.513524e-01, 8.0961757e+01, "ClNO2"},
		{61, 2, 156, "(37Cl)(14N)(16O)2", 2.402636e-01, 8.2958808e+01, "ClNO2"},
	}), mod)
	m := NewMAST(MASTOptions{})
	for i, o := range []struct{ coll, program, rights string }{
		{"JWST", "2736", "PUBLIC"}, {"JWST", "1366", "PUBLIC"}, {"JWST", "2736", "PUBLIC"},
		{"JWST", "6585", "PUBLIC"}, {"JWST", "9999", "EXCLUSIVE_ACCESS"}, {"HST", "8880", "PUBLIC"},
		{"JWST", "1180", "PUBLIC"},
	} {
		m.AddObservation(map[string]any{
			"obsid": fmt.Sprint(87602000 + i), "obs_collection": o.coll, "proposal_id": o.program,
			"dataRights": o.rights, "obs_id": fmt.Sprintf("jw0%s-o00%d_t001_nircam", o.program, i), "calib_level": 3,
			"intentType": "science", "instrument_name": "NIRCAM/IMAGE",
		})
	}
	s.Handle("/api/v0/invoke", m)
	return m
}

func (s *Server) serveTESSSample(mod time.Time) {
	products := map[int][]string{
		1751: {"ffic"},
		107:  {"ffic"},
		106:  {"lc", "tp", "dv"},
		96:   {"lc", "tp", "dv"},
		95:   {"lc", "tp", "dv", "cbv", "fast-lc", "fast-tp"},
		27:   {"lc", "tp", "dv", "cbv", "fast-lc", "fast-tp"},
		1:    {"lc", "tp", "dv", "cbv", "ffic", "ffir"},
	}
	var names []string
	for _, n := range []int{1751, 107, 106, 96, 95, 27, 1} { // newest first, as MAST lists them
		for _, p := range products[n] {
			name := fmt.Sprintf("tesscurl_sector_%d_%s.sh", n, p)
			names = append(names, name)
			file := fmt.Sprintf("tess2018206045859-s%04d-0000000008195886-0120-s_%s.fits", n%10000, p)
			s.AddScript(TESSScriptDir+name, CurlScript, s.MASTScriptFiles("mast:TESS/product/"+file))
		}
	}
	s.AddFile(TESSBulkIndexPath, RenderTESSBulkIndex(names), mod)
}

func (s *Server) serveGTDBSample() {
	s.SetListing(GTDBReleasesPath, GTDBListing)
	mod := time.Date(2021, 4, 27, 2, 7, 0, 0, time.UTC)
	for _, f := range []string{
		"release202/202.0/bac120_r202.tree", "release202/202.0/ar122_r202.tree",
		"release202/202.0/bac120_metadata_r202.tar.gz", "release202/202.0/ar122_metadata_r202.tar.gz",
		"release202/202.0/bac120_taxonomy_r202.tsv", "release202/202.0/bac120_taxonomy_r202.tsv.gz",
		"release202/202.0/ar122_taxonomy_r202.tsv.gz", "release202/202.0/VERSION",
		"release202/202.0/genomic_files_reps/gtdb_genomes_reps_r202.tar.gz",
		"release202/202.0/auxillary_files/gtdbtk_r202_data.tar.gz",
		"release202/202.0/auxillary_files/sp_clusters_r202.tsv",
		"release214/214.0/bac120_taxonomy_r214.tsv.gz",
		"release214/214.1/MD5SUM.txt", "release214/214.1/bac120_taxonomy_r214.tsv.gz",
		"release214/214.1/ar53_taxonomy_r214.tsv.gz", "release214/214.1/bac120_metadata_r214.tsv.gz",
		"release214/214.1/bac120_r214.tree", "release214/214.1/auxillary_files/gtdbtk_r214_data.tar.gz",
		"release226/226.0/MD5SUM.txt", "release226/226.0/VERSION.txt",
		"release226/226.0/bac120_taxonomy_r226.tsv.gz", "release226/226.0/ar53_taxonomy_r226.tsv.gz",
		"release226/226.0/bac120_metadata_r226.tsv.gz", "release226/226.0/ar53_metadata_r226.tsv.gz",
		"release226/226.0/bac120_r226.tree.gz", "release226/226.0/ar53_r226.tree.gz",
		"release226/226.0/genomic_files_reps/gtdb_genomes_reps_r226.tar.gz",
		"release226/226.0/genomic_files_all/ssu_all_r226.fna.gz",
		"release226/226.0/auxillary_files/gtdbtk_package/full_package/gtdbtk_r226_data.tar.gz",
		"release226/226.0/auxillary_files/gtdbtk_package/skani/gtdbtk_r226_skani.tar.gz",
		"latest/VERSION.txt",
	} {
		s.AddFile(GTDBReleasesPath+f, []byte(f+"\n"), mod)
	}
}
