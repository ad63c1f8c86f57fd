package emulator

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Assembly is one row of an emulated NCBI assembly_summary.txt (the format
// of https://ftp.ncbi.nlm.nih.gov/genomes/README_assembly_summary.txt).
// AddAssemblySummary copies the rows, but not their Fields maps.
type Assembly struct {
	Accession string // e.g. GCF_000001405.40
	AsmName   string // e.g. GRCh38.p14
	// Fields sets other columns by their header name (e.g. "refseq_category":
	// "na", "organism_name": "Homo sapiens"). Setting "ftp_path" to "na"
	// gives a row without a directory, as NCBI has for suppressed
	// assemblies. Unset columns are "na" or plausible values;
	// refseq_category defaults to "reference genome", the only category
	// NCBI still writes besides "na".
	Fields map[string]string
}

// AssemblySummaryColumns are the columns of assembly_summary.txt in order,
// as in https://ftp.ncbi.nlm.nih.gov/genomes/README_assembly_summary.txt.
// Read it only: every Server shares it.
var AssemblySummaryColumns = []string{
	"assembly_accession", "bioproject", "biosample", "wgs_master", "refseq_category",
	"taxid", "species_taxid", "organism_name", "infraspecific_name", "isolate",
	"version_status", "assembly_level", "release_type", "genome_rep", "seq_rel_date",
	"asm_name", "asm_submitter", "gbrs_paired_asm", "paired_asm_comp", "ftp_path",
	"excluded_from_refseq", "relation_to_type_material", "asm_not_live_date",
	"assembly_type", "group", "genome_size", "genome_size_ungapped", "gc_percent",
	"replicon_count", "scaffold_count", "contig_count", "annotation_provider",
	"annotation_name", "annotation_date", "total_gene_count",
	"protein_coding_gene_count", "non_coding_gene_count", "pubmed_id",
}

// AssemblyDir is the assembly's directory as NCBI lays it out, e.g.
// /genomes/all/GCF/000/001/405/GCF_000001405.40_GRCh38.p14.
func AssemblyDir(accession, asmName string) string {
	prefix, rest, _ := strings.Cut(accession, "_")
	digits, _, _ := strings.Cut(rest, ".")
	for len(digits) < 9 {
		digits = "0" + digits
	}
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == '#' || r == ',' {
			return '_'
		}
		return r
	}, asmName)
	return fmt.Sprintf("/genomes/all/%s/%s/%s/%s/%s_%s", prefix, digits[0:3], digits[3:6], digits[6:9], accession, name)
}

// AddAssemblySummary serves p as an assembly_summary.txt listing these
// assemblies, with ftp_path pointing into this server, and makes
// md5checksums.txt ("<md5>  ./<name>") available in each assembly directory.
// The files themselves are added with AddFile under AssemblyDir.
func (s *Server) AddAssemblySummary(p string, assemblies []Assembly) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.summaries[cleanPath(p)] = append([]Assembly(nil), assemblies...)
	for _, a := range assemblies {
		if a.Fields["ftp_path"] == "na" {
			continue
		}
		s.tree.checksums[AssemblyDir(a.Accession, a.AsmName)+"/md5checksums.txt"] = checksumFile{format: MD5SumDotSlash}
	}
}

func (s *Server) renderAssemblySummary(as []Assembly) ([]byte, time.Time) {
	var b bytes.Buffer
	b.WriteString("#   See ftp://ftp.ncbi.nlm.nih.gov/genomes/README_assembly_summary.txt for a description of the columns in this file.\n")
	b.WriteString("#" + strings.Join(AssemblySummaryColumns, "\t") + "\n")
	for _, a := range as {
		row := make([]string, len(AssemblySummaryColumns))
		for i, col := range AssemblySummaryColumns {
			v, ok := a.Fields[col]
			if !ok {
				v = assemblyDefault(col, a, s.URL())
			}
			row[i] = v
		}
		b.WriteString(strings.Join(row, "\t") + "\n")
	}
	return b.Bytes(), time.Unix(1700000000, 0).UTC()
}

func assemblyDefault(col string, a Assembly, base string) string {
	switch col {
	case "assembly_accession":
		return a.Accession
	case "asm_name":
		return a.AsmName
	case "ftp_path":
		return base + AssemblyDir(a.Accession, a.AsmName)
	case "refseq_category":
		// NCBI retired "representative genome" in September 2024 (NCBI
		// Insights, 2024-09-25): reference and former representative
		// assemblies are both "reference genome" now, and every other
		// row is "na".
		return "reference genome"
	case "version_status":
		return "latest"
	case "assembly_level":
		return "Complete Genome"
	case "release_type":
		return "Major"
	case "genome_rep":
		return "Full"
	case "seq_rel_date":
		return "2023/11/14"
	case "assembly_type":
		return "haploid"
	case "group":
		return "bacteria"
	case "excluded_from_refseq", "relation_to_type_material", "asm_not_live_date":
		return "na"
	}
	return "na"
}
