// Package refresh regenerates the registry tables of families that grow,
// from the publishers' own indexes: TESS sectors from MAST's bulk-download
// page, GTDB releases from its releases/ listing, KEGG organisms from
// /list/organism, JWST programs from MAST's CAOM catalogue and HITRAN
// isotopologues from HAPI's ISO table. It is what "astroingest sources
// refresh" runs; plan and run never call it, so they stay offline and
// reproducible, and a refreshed table is a change a maintainer reviews.
//
// A Refresher reads one index and returns a Table; Merge folds that into
// the table file the registry holds (keeping its comments and columns, and
// rows the publisher no longer lists unless asked to prune), and Unified
// shows the change as a diff. Refreshers take the caller's *http.Client:
// rate limits, the user agent and usage gates are the caller's, as for the
// source kinds. Every function here is safe for concurrent use; the
// refreshers are plain values.
package refresh

import (
	"context"
	"net/http"
)

// Table is what a refresher read: the table's columns in the file's order
// (each a variable of the families that expand it), the columns that
// identify a row (the variables of the entry IDs), and the rows in the
// refresher's own order, which is stable so that diffs stay small.
type Table struct {
	Columns []string
	Key     []string
	Rows    [][]string
	// Less is the order of Rows, for placing the rows a merge keeps among
	// them; rows it does not order stay where the merge put them. nil
	// leaves kept rows after the row they followed in the file.
	Less func(a, b []string) bool
}

// Refresher regenerates one registry table from a publisher's index.
type Refresher interface {
	// Name is the table's name: the refresher regenerates the file
	// tables/<Name>.tsv of the registry folder.
	Name() string
	// Refresh reads the index through c. Its error names the URL that
	// failed; a *sources.FetchError carries the reason.
	Refresh(ctx context.Context, c *http.Client) (Table, error)
}

// Spec is one row of the refresher table: a refresher and what the
// command says about it.
type Spec struct {
	Refresher Refresher
	// Families are the registry families that expand the table, by ID;
	// the command accepts them in place of the table's name.
	Families []string
	// Source is the index the refresher reads, for help and messages.
	Source string
}

// Bases are the publishers' URLs the refreshers read; RealBases are the
// public ones, and tests point them at the emulators.
type Bases struct {
	// MASTArchive serves the TESS bulk-download page
	// (https://archive.stsci.edu).
	MASTArchive string
	// MAST is the Portal API base (https://mast.stsci.edu).
	MAST string
	// GTDB is the releases/ directory (https://data.gtdb.ecogenomic.org/releases/).
	GTDB string
	// KEGG is the REST API base (https://rest.kegg.jp).
	KEGG string
	// HAPI is HAPI's hapi.py, where its ISO table is.
	HAPI string
}

// RealBases are the publishers' public URLs.
func RealBases() Bases {
	return Bases{
		MASTArchive: "https://archive.stsci.edu",
		MAST:        "https://mast.stsci.edu",
		GTDB:        gtdbPublic,
		KEGG:        "https://rest.kegg.jp",
		HAPI:        "https://raw.githubusercontent.com/hitranonline/hapi/master/hapi/hapi.py",
	}
}

// Specs is the refresher table, in the order the command runs them: one
// explicit list, no registration.
func Specs(b Bases) []Spec {
	tessIndex := b.MASTArchive + tessBulkPath
	return []Spec{
		{
			Refresher: TESS{Table: "tess-spoc-sectors", Index: tessIndex, Products: []string{"lc", "tp", "dv", "cbv"}},
			Families:  []string{"tess-spoc-sector-scripts", "tess-spoc-sector-scripts-sh"},
			Source:    tessIndex,
		},
		{
			Refresher: TESS{Table: "tess-spoc-fast-sectors", Index: tessIndex, Products: []string{"fast-lc", "fast-tp"}},
			Families:  []string{"tess-spoc-fast-sector-scripts", "tess-spoc-fast-sector-scripts-sh"},
			Source:    tessIndex,
		},
		{
			Refresher: GTDB{Releases: b.GTDB, Public: gtdbPublic},
			Families:  []string{"gtdb-release-files"},
			Source:    b.GTDB,
		},
		{
			Refresher: KEGG{List: b.KEGG + "/list/organism"},
			Families:  []string{"kegg-organism-tables"},
			Source:    b.KEGG + "/list/organism",
		},
		{
			Refresher: JWST{MAST: b.MAST},
			Families:  []string{"jwst-programs"},
			Source:    b.MAST + "/api/v0/invoke (Mast.Caom.Filtered, obs_collection JWST, dataRights PUBLIC)",
		},
		{
			Refresher: HITRAN{HAPI: b.HAPI},
			Families:  []string{"hitran-lbl-isotopologues"},
			Source:    b.HAPI + " (the ISO table)",
		},
	}
}
