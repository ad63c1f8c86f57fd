package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// ScriptStyle is the command form of a bulk-download shell script, as the
// archives publish them for curl or wget.
type ScriptStyle int

const (
	// CurlScript is MAST's TESS form (tesscurl_sector_<N>_<product>.sh): a
	// "#!/bin/sh" line, then one "curl -C - -L -o <name> <url>" line per
	// file, unquoted.
	CurlScript ScriptStyle = iota
	// WgetScript is the NASA Exoplanet Archive's wget list: one
	// "wget -O '<name>' '<url>' -a <log>" line per file.
	WgetScript
	// KeplerCurlScript is the shape of MAST's Kepler quarter scripts
	// (kepler_lightcurves_Q<nn>_long.sh), of which no verbatim line is
	// public. What is known comes from the one public driver that parses
	// them (kepler_astrometry_catalog get_data.py and process_data.py):
	// line 1 is a header it skips; every other line holds "--progress "
	// (it removes that), after which space-separated word 6 is the output
	// path in single quotes, "'<a>/<b>/<4-digit>/<KIC>/<file>'" with the
	// 9-digit KIC as element 3 of the path split on "/", and the URL is the
	// last word. So a line here is
	//   curl -C - -L -R --progress -o './<name>' <url>
	// with "#!/bin/sh" first: the flags before -o are TESS's plus -R, to
	// give the word count the driver implies; only that count, the
	// --progress word, the quoted path and the URL last are evidence.
	// Names are paths such as lightcurves/0007/000757076/<file>
	// (ScriptFilesBelow), mirroring the archive's own tree.
	KeplerCurlScript
)

// ScriptFile is one download of a script: the name it saves as and its URL.
type ScriptFile struct {
	Name string
	URL  string
}

// MASTDownloadPath is MAST's download API as the bulk scripts write it,
// with a slash before the query: .../Download/file/?uri=mast:TESS/product/<file>.
const MASTDownloadPath = "/api/v0.1/Download/file/"

// RenderScript is the text of a script downloading files, in the
// publisher's line format. It has no state and is safe for concurrent use.
func RenderScript(style ScriptStyle, files []ScriptFile) []byte {
	var b bytes.Buffer
	switch style {
	case CurlScript:
		b.WriteString("#!/bin/sh\n")
		for _, f := range files {
			fmt.Fprintf(&b, "curl -C - -L -o %s %s\n", f.Name, f.URL)
		}
	case WgetScript:
		for _, f := range files {
			fmt.Fprintf(&b, "wget -O '%s' '%s' -a search_101910808.log\n", f.Name, f.URL)
		}
	case KeplerCurlScript:
		b.WriteString("#!/bin/sh\n")
		for _, f := range files {
			fmt.Fprintf(&b, "curl -C - -L -R --progress -o './%s' %s\n", f.Name, f.URL)
		}
	}
	return b.Bytes()
}

// AddScript puts a script downloading files at p in the tree.
func (s *Server) AddScript(p string, style ScriptStyle, files []ScriptFile) {
	s.AddFile(p, RenderScript(style, files), time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC))
}

// ScriptFiles names tree files for a script: each path's basename and its
// URL on this server. Paths need not exist, so a script may list a file the
// server then answers 404 for.
func (s *Server) ScriptFiles(paths ...string) []ScriptFile {
	out := make([]ScriptFile, 0, len(paths))
	for _, p := range paths {
		p = cleanPath(p)
		out = append(out, ScriptFile{Name: path.Base(p), URL: s.URL() + hrefEscape(p)})
	}
	return out
}

// ScriptFilesBelow names tree files by their path below root, as the
// Kepler scripts name theirs: ScriptFilesBelow("/missions/kepler/",
// "/missions/kepler/lightcurves/0007/000757076/f.fits") is named
// lightcurves/0007/000757076/f.fits.
func (s *Server) ScriptFilesBelow(root string, paths ...string) []ScriptFile {
	root = strings.TrimRight(cleanPath(root), "/") + "/"
	out := s.ScriptFiles(paths...)
	for i, p := range paths {
		out[i].Name = strings.TrimPrefix(cleanPath(p), root)
	}
	return out
}

// MASTScriptFiles names files by their MAST URIs ("mast:TESS/product/x.fits")
// the way the TESS scripts do: the URI's basename, and
// <server>/api/v0.1/Download/file/?uri=<uri> with the URI unescaped.
// ServeMASTDownloads makes those URLs answer.
func (s *Server) MASTScriptFiles(uris ...string) []ScriptFile {
	out := make([]ScriptFile, 0, len(uris))
	for _, u := range uris {
		out = append(out, ScriptFile{Name: path.Base(u), URL: s.URL() + MASTDownloadPath + "?uri=" + u})
	}
	return out
}

// ServeMASTDownloads mounts MASTDownloadPath: GET ?uri=mast:<rest> answers
// 302 to the tree file dir/<rest> (the scripts' curl -L follows it), 404
// when the tree has no such file. Mount it once per Server; it leaves the
// MAST emulator's own Download/file (without the slash) alone.
func (s *Server) ServeMASTDownloads(dir string) {
	dir = strings.TrimRight(cleanPath(dir), "/")
	s.HandleFunc(MASTDownloadPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != MASTDownloadPath {
			http.NotFound(w, r)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Query().Get("uri"), "mast:")
		if !ok || rest == "" {
			http.Error(w, "uri must be mast:<path>", http.StatusBadRequest)
			return
		}
		p := cleanPath(dir + "/" + rest)
		if !strings.HasPrefix(p, dir+"/") || s.lookup(p) == nil {
			http.Error(w, "file not found: "+r.URL.Query().Get("uri"), http.StatusNotFound)
			return
		}
		http.Redirect(w, r, hrefEscape(p), http.StatusFound)
	})
}
