package emulator

// The indexes publishers keep of what they hold, from which the registry's
// growing tables are regenerated (astroingest sources refresh). Each
// Render function writes the publisher's format; tests serve the result
// with AddFile at the publisher's path. They have no state and are safe
// for concurrent use.

import (
	"bytes"
	"fmt"
	"html"
	"strings"
)

// TESSBulkIndexPath is where MAST keeps the TESS bulk-download page.
const TESSBulkIndexPath = "/tess/bulk_downloads/bulk_downloads_ffi-tp-lc-dv.html"

// TESSScriptDir is the directory of MAST's per-sector TESS scripts.
const TESSScriptDir = "/missions/tess/download_scripts/sector/"

// RenderTESSBulkIndex is MAST's TESS bulk-download page
// (archive.stsci.edu/tess/bulk_downloads/bulk_downloads_ffi-tp-lc-dv.html)
// listing the named scripts (tesscurl_sector_<N>_<product>.sh), in the
// order given (MAST lists the newest sector first). What public clients of
// the page show, and this keeps: the scripts are links in table cells, one
// cell per line, matched by a public downloader as
// `\s*<td [\s\S]*><a href="(\S+)">(tesscurl_sector_\d+_[a-z\-]+\.sh)</a></td>`
// with the href root-relative (it prepends https://archive.stsci.edu); a
// browser snippet in orionlee/tess_dv_fast takes them from "table a". The
// headings and the cells' classes are not shown by any client.
func RenderTESSBulkIndex(scripts []string) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>TESS Bulk Downloads: FFI, TP, LC, DV</title>\n</head>\n<body>\n")
	b.WriteString("<h1>TESS Bulk Downloads</h1>\n<p>Shell scripts that download every product of one kind for one sector with curl.</p>\n")
	b.WriteString("<table class=\"bulk\">\n<thead><tr><th>Sector</th><th>Script</th></tr></thead>\n<tbody>\n")
	for _, name := range scripts {
		sector := strings.TrimPrefix(name, "tesscurl_sector_")
		sector, _, _ = strings.Cut(sector, "_")
		fmt.Fprintf(&b, "<tr>\n    <td class=\"sector\">Sector %s</td>\n    <td class=\"script\"><a href=\"%s%s\">%s</a></td>\n</tr>\n",
			html.EscapeString(sector), TESSScriptDir, hrefEscape(name), html.EscapeString(name))
	}
	b.WriteString("</tbody>\n</table>\n</body>\n</html>\n")
	return b.Bytes()
}

// KEGGOrganism is one line of KEGG's /list/organism.
type KEGGOrganism struct {
	TNumber string // T01001
	Code    string // hsa
	Name    string // Homo sapiens (human)
	Lineage string // Eukaryotes;Animals;Vertebrates;Mammals
}

// RenderKEGGOrganisms is https://rest.kegg.jp/list/organism: one line per
// organism, "T01001\thsa\tHomo sapiens (human)\tEukaryotes;Animals;
// Vertebrates;Mammals" (T number, organism code, name, lineage), as the
// KEGG API manual's list operation and the public clients that parse it
// show, with no header.
func RenderKEGGOrganisms(orgs []KEGGOrganism) []byte {
	var b bytes.Buffer
	for _, o := range orgs {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", o.TNumber, o.Code, o.Name, o.Lineage)
	}
	return b.Bytes()
}

// HAPIIsotopologue is one entry of HAPI's ISO dictionary.
type HAPIIsotopologue struct {
	Mol, Local int     // HITRAN molecule number and local isotopologue number
	ID         int     // global isotopologue ID (iso_ids_list of /lbl/api)
	Name       string  // iso_name, e.g. H2(16O)
	Abundance  float64 // terrestrial abundance
	Mass       float64 // molar mass, g/mol
	MolName    string  // mol_name, e.g. H2O, NOp for NO+
}

// RenderHAPI is the part of HAPI's hapi.py (hitranonline/hapi, hapi/hapi.py
// on master) that holds the ISO dictionary, byte for byte in HAPI
// 1.3.0.0's layout, CRLF line ends included (the file is stored so):
//
//	(  1,  1 ):    [      1,  'H2(16O)',                 9.973173E-01,  1.8010565E+01,  'H2O'         ],
//
// one line per isotopologue between "ISO = {" and "}", after the
// ISO_ID_INDEX and ISO_INDEX dictionaries and a column comment, and
// followed by the loop that derives ISO_ID from it. The rest of hapi.py
// (some 54,000 lines of code and partition sums) is left out.
func RenderHAPI(version string, isos []HAPIIsotopologue) []byte {
	lines := []string{
		"# -*- coding: utf-8 -*-", "",
		fmt.Sprintf("HAPI_VERSION = '%s'; __version__ = HAPI_VERSION", version), "",
		"# ---------------------- ISO.PY ---------------------------------------", "",
		"ISO_ID_INDEX = {", "", "'M':0,", "'I':1,", "'iso_name':2,", "'abundance':3,", "'mass':4,", "'mol_name':5", "", "}", "",
		"ISO_INDEX = {", "", "'id':0,", "'iso_name':1,", "'abundance':2,", "'mass':3,", "'mol_name':4", "", "}", "",
		"#  M   I             id   iso_name                   abundance      mass           mol_name", "",
		"ISO = {",
	}
	for _, i := range isos {
		lines = append(lines, fmt.Sprintf("(%3d,%3d ):    [%7d,  %-27s%.6E,  %.7E,  %-14s], ", i.Mol, i.Local, i.ID, "'"+i.Name+"',", i.Abundance, i.Mass, "'"+i.MolName+"'"))
	}
	lines = append(lines, "}", "",
		"# calculate ISO_ID instead of repeating the same information twice",
		"ISO_ID = {}",
		"for mol_id,iso_id in ISO:",
		"    ln = ISO[(mol_id,iso_id)]",
		"    glob_iso_id = ln[0]",
		"    ln_ = [mol_id,iso_id]+ln[1:]",
		"    ISO_ID[glob_iso_id] = ln_", "")
	return []byte(strings.Join(lines, "\r\n"))
}
