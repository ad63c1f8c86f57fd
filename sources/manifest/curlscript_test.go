package manifest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

// Lines as MAST publishes them. The lc, dv and tp lines are copied from
// real scripts (tesscurl_sector_1_dv.sh and _95_dv.sh as kept in
// orionlee/tess_dv_fast tests, a tp line quoted in a TESS pipeline, the
// lc line from public parsers); cbv and fast-lc use the same curl form with
// real file-name patterns.
const (
	mastDL   = "https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/"
	lcName   = "tess2018206045859-s0001-0000000008195886-0120-s_lc.fits"
	lcLine   = "curl -C - -L -o " + lcName + " " + mastDL + lcName
	dvName1  = "tess2018206190142-s0001-s0001-0000000024265684-01-00366_dvs.pdf"
	dvName2  = "tess2025206194924-s0095-s0095-0000000024695715-01037_dvt.fits"
	tpName   = "tess2021204101404-s0041-0000000011113164-0212-s_tp.fits"
	cbvName  = "tess2018206045859-s0001-1-1-0120-s_cbv.fits"
	fastName = "tess2020186164531-s0027-0000000025155310-0189-a_fast-lc.fits"
	// NASA Exoplanet Archive wget list (jpdeleon/dl_kep data/wget_list.txt).
	wgetLine = "wget -O 'kplr010000009-2009131105131_llc.fits' 'http://exoplanetarchive.ipac.caltech.edu:80/data/ETSS//Kepler/005/141/23/kplr010000009-2009131105131_llc.fits' -a search_101910808.log"
	kepURL   = "https://archive.stsci.edu/missions/kepler/lightcurves/0007/000757076/kplr000757076-2009131105131_llc.fits"
	// A Kepler quarter script line in the shape its one public driver
	// implies (no verbatim line is public; see emulator.KeplerCurlScript).
	kepName = "lightcurves/0007/000757076/kplr000757076-2009131105131_llc.fits"
	kepLine = "curl -C - -L -R --progress -o './" + kepName + "' " + kepURL
)

func curlLine(name string) string { return "curl -C - -L -o " + name + " " + mastDL + name }

func TestParseScript(t *testing.T) {
	type dl struct {
		line      int
		name, url string
	}
	tests := []struct {
		name   string
		script string
		want   []dl
	}{
		{"tess lc", "#!/bin/sh\n" + lcLine + "\n", []dl{{2, lcName, mastDL + lcName}}},
		{"tess dv, tp, cbv, fast-lc", "#!/bin/sh\n" + curlLine(dvName1) + "\n" + curlLine(dvName2) + "\n" + curlLine(tpName) + "\n" + curlLine(cbvName) + "\n" + curlLine(fastName) + "\n",
			[]dl{{2, dvName1, mastDL + dvName1}, {3, dvName2, mastDL + dvName2}, {4, tpName, mastDL + tpName}, {5, cbvName, mastDL + cbvName}, {6, fastName, mastDL + fastName}}},
		{"exoplanet archive wget -O quoted, log option after the URL", wgetLine + "\n",
			[]dl{{1, "kplr010000009-2009131105131_llc.fits", "http://exoplanetarchive.ipac.caltech.edu:80/data/ETSS//Kepler/005/141/23/kplr010000009-2009131105131_llc.fits"}}},
		{"bare wget and curl -O take the URL basename", "wget " + kepURL + "\ncurl -O " + strings.Replace(kepURL, "llc", "slc", 2) + "\n",
			[]dl{{1, "kplr000757076-2009131105131_llc.fits", kepURL}, {2, "kplr000757076-2009131105131_slc.fits", strings.Replace(kepURL, "llc", "slc", 2)}}},
		{"kepler quarter script: quoted output path keeps its directories", "#!/bin/sh\n" + kepLine + "\n", []dl{{2, kepName, kepURL}}},
		{"no -o: name from the uri parameter", "curl -C - -L " + mastDL + lcName + "\n", []dl{{1, lcName, mastDL + lcName}}},
		{"flags in any order and clustered", "curl -L https://h.example/a/x.fits -C - -o y.fits\ncurl -fsSLo z.fits https://h.example/a/z1.fits\ncurl --output=w.fits --retry 3 https://h.example/w\n",
			[]dl{{1, "y.fits", "https://h.example/a/x.fits"}, {2, "z.fits", "https://h.example/a/z1.fits"}, {3, "w.fits", "https://h.example/w"}}},
		{"curl pairs -o and -O with URLs in order", "curl -o one https://h.example/1 -O https://h.example/dir/two.fits https://h.example/three.fits\n",
			[]dl{{1, "one", "https://h.example/1"}, {1, "two.fits", "https://h.example/dir/two.fits"}, {1, "three.fits", "https://h.example/three.fits"}}},
		{"quotes, escapes, continuation, CRLF", "#!/bin/sh\r\ncurl -o \"a \\\"b\\\".fits\" 'https://h.example/a%20b.fits'\r\ncurl \\\n  -o c\\ d.fits \\\n  https://h.example/c\r\n",
			[]dl{{2, `a "b".fits`, "https://h.example/a%20b.fits"}, {3, "c d.fits", "https://h.example/c"}}},
		{"line numbers count continued and quoted lines", "curl \\\n -o a https://h.example/a\ncurl -o 'b\nc' https://h.example/b\r\n\\\r\ncurl -o d https://h.example/d\n",
			[]dl{{1, "a", "https://h.example/a"}, {3, "b\nc", "https://h.example/b"}, {6, "d", "https://h.example/d"}}},
		{"comments, blank lines and other commands are skipped", "#!/bin/bash\n\n# sector 1\nmkdir -p data; cd data\necho \"100% left\"\n   \n" + lcLine + " # first\n",
			[]dl{{7, lcName, mastDL + lcName}}},
		{"wrappers, assignments, redirections and separators", "nohup nice -n 5 curl -o a.fits https://h.example/a > log.txt 2>&1 &\nLC_ALL=C curl -o b.fits https://h.example/b && curl -o c.fits https://h.example/c 2>/dev/null\n",
			[]dl{{1, "a.fits", "https://h.example/a"}, {2, "b.fits", "https://h.example/b"}, {2, "c.fits", "https://h.example/c"}}},
		{"directories: -o path, --output-dir, wget -P", "curl -o ./0007/000757076/k.fits https://h.example/k\ncurl --output-dir q01/ -O https://h.example/m.fits\nwget -q -nH -c -P lc/0007 https://h.example/n.fits\nwget -P ignored -O o.fits https://h.example/o\n",
			[]dl{{1, "0007/000757076/k.fits", "https://h.example/k"}, {2, "q01/m.fits", "https://h.example/m.fits"}, {3, "lc/0007/n.fits", "https://h.example/n.fits"}, {4, "o.fits", "https://h.example/o"}}},
		{"an exact repeat is one file", lcLine + "\n" + lcLine + "\n", []dl{{1, lcName, mastDL + lcName}}},
		{"globoff allows brackets", "curl -g -o x.fits 'https://h.example/x[1].fits'\n", []dl{{1, "x.fits", "https://h.example/x[1].fits"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseScript(tc.script)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d downloads %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if g := got[i]; g.line != w.line || g.name != w.name || g.url != w.url {
					t.Errorf("download %d: line %d %q %s, want line %d %q %s", i, g.line, g.name, g.url, w.line, w.name, w.url)
				}
			}
		})
	}
}

func TestParseScriptErrors(t *testing.T) {
	tests := []struct {
		script string
		msg    string
	}{
		{"#!/bin/sh\ncurl -o ../up.fits https://h.example/a\n", `line 2: file name "../up.fits" is not a clean relative path`},
		{"curl -o /etc/passwd https://h.example/a\n", `file name "/etc/passwd" is not a clean relative path`},
		{"curl -o a//b https://h.example/a\n", `"a//b" is not a clean relative path`},
		{"curl -o a.fits https://h.example/1\n\ncurl -o a.fits https://h.example/2\n", `line 3: file name "a.fits" is also given on line 1`},
		{"wget -q -nH --cut-dirs=6 -r -l0 -c -nc -np -erobots=off -R 'index*' -A _llc.fits -P 0062/006264750 http://archive.stsci.edu/pub/kepler/lightcurves/0062/006264750/\n", "line 1: wget: recursive downloads"},
		{"wget -i urls.txt\n", "line 1: wget: -i reads its URLs"},
		{"wget -O all.fits https://h.example/1 https://h.example/2\n", "would join them into one file"},
		{"curl -o a ftp://h.example/a\n", `"ftp://h.example/a" is not an http(s) URL`},
		{"curl -o a $BASE/a.fits\n", `needs shell expansion`},
		{"curl -o a \"https://h.example/${X}\"\n", `needs shell expansion`},
		{"curl -O 'https://h.example/f[1-9].fits'\n", "globbing"},
		{"echo ok\ncurl -o 'a https://h.example/a\n", "line 2: unterminated single quote"},
		{"curl -o a \"https://h.example/a\n", "line 1: unterminated double quote"},
		{"curl https://h.example/dir/\n", "ends in no file name"},
		{"curl https://h.example/a -o\n", "option -o needs a value"},
		{"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n", "has no curl or wget download lines"},
		{"#!/bin/sh\n", "has no curl or wget download lines"},
	}
	for _, tc := range tests {
		if _, err := parseScript(tc.script); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: err %v, want %q", tc.script, err, tc.msg)
		}
	}
}

// The emulator writes scripts in the published line format.
func TestRenderedScriptIsRealFormat(t *testing.T) {
	got := string(emulator.RenderScript(emulator.CurlScript, []emulator.ScriptFile{{Name: lcName, URL: mastDL + lcName}}))
	if want := "#!/bin/sh\n" + lcLine + "\n"; got != want {
		t.Errorf("curl script\n got %q\nwant %q", got, want)
	}
	got = string(emulator.RenderScript(emulator.WgetScript, []emulator.ScriptFile{{Name: "kplr010000009-2009131105131_llc.fits", URL: "http://exoplanetarchive.ipac.caltech.edu:80/data/ETSS//Kepler/005/141/23/kplr010000009-2009131105131_llc.fits"}}))
	if want := wgetLine + "\n"; got != want {
		t.Errorf("wget script\n got %q\nwant %q", got, want)
	}
}

// The Kepler line is in the shape the public driver reads
// (kepler_astrometry_catalog process_data.py): word -2 split on "/" gives
// the KIC as element 3; after removing "--progress ", word 6 is the quoted
// output path; the URL is the last word.
func TestKeplerLineShape(t *testing.T) {
	got := string(emulator.RenderScript(emulator.KeplerCurlScript, []emulator.ScriptFile{{Name: kepName, URL: kepURL}}))
	if want := "#!/bin/sh\n" + kepLine + "\n"; got != want {
		t.Fatalf("kepler script\n got %q\nwant %q", got, want)
	}
	line := strings.Split(got, "\n")[1]
	words := strings.Split(line, " ")
	if kic := strings.Split(words[len(words)-2], "/")[3]; len(kic) != 9 || strings.TrimLeft(kic, "0") != "757076" {
		t.Errorf("KIC element %q, want the 9-digit 000757076", kic)
	}
	stripped := strings.Split(strings.Replace(line, "--progress ", "", 1), " ")
	if stripped[6] != "'./"+kepName+"'" || stripped[len(stripped)-1] != kepURL {
		t.Errorf("after stripping --progress: word 6 %q, last %q", stripped[6], stripped[len(stripped)-1])
	}
}

// fetchAll downloads every object and checks it against the served file.
func fetchAll(t *testing.T, s *emulator.Server, objs []sources.Object, treePath func(name string) string) {
	t.Helper()
	for _, o := range objs {
		resp, err := s.Client().Get(o.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		p := treePath(o.Name)
		if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != s.SHA256(p) || int64(len(b)) != s.Size(p) || resp.ContentLength != s.Size(p) {
			t.Errorf("%s: %s served %d, %d bytes (Content-Length %d), sha256 %x; tree %s has %d bytes, sha256 %s",
				o.Name, o.URL, resp.StatusCode, len(b), resp.ContentLength, sum, p, s.Size(p), s.SHA256(p))
		}
	}
}

func names(objs []sources.Object) []string {
	var n []string
	for _, o := range objs {
		n = append(n, o.Name)
	}
	return n
}

func TestCurlScriptTESS(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.ServeMASTDownloads("/mastfiles")
	files := []string{
		lcName,
		"tess2018206045859-s0001-0000000008195887-0120-s_lc.fits",
		"tess2018206045859-s0001-0000000008195888-0120-s_lc.fits",
		"tess2018206045859-s0001-0000000008195889-0120-s_lc.fits",
	}
	var uris []string
	for i, f := range files {
		s.AddGenerated("/mastfiles/TESS/product/"+f, 2880+int64(i)*1000, int64(i))
		uris = append(uris, "mast:TESS/product/"+f)
	}
	script := "/missions/tess/download_scripts/sector/tesscurl_sector_1_lc.sh"
	s.AddScript(script, emulator.CurlScript, s.MASTScriptFiles(uris...))
	tree := func(name string) string { return "/mastfiles/TESS/product/" + name }

	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"all", nil, files},
		{"include", map[string]string{"include": "*8195887*,*8195889*"}, []string{files[1], files[3]}},
		{"exclude", map[string]string{"exclude": "*8195886*"}, files[1:]},
		{"limit after filters", map[string]string{"exclude": "*8195886*", "limit": "2"}, files[1:3]},
		{"limit above count", map[string]string{"limit": "100"}, files},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := map[string]string{"format": "curl_script"}
			for k, v := range tc.params {
				p[k] = v
			}
			objs, err := run(t, s, script, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(objs); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("names %q, want %q", got, tc.want)
			}
			for _, o := range objs {
				if o.Size != -1 || o.Checksum != nil || o.URL != s.URL()+emulator.MASTDownloadPath+"?uri=mast:TESS/product/"+o.Name {
					t.Errorf("%s: url %s size %d checksum %v", o.Name, o.URL, o.Size, o.Checksum)
				}
			}
			fetchAll(t, s, objs, tree)
		})
	}

	// A file the script lists but MAST lacks: listing still works, the
	// download answers 404 (the engine then fails that object).
	s.AddScript("/missions/tess/download_scripts/sector/tesscurl_sector_2_lc.sh", emulator.CurlScript, s.MASTScriptFiles("mast:TESS/product/missing_lc.fits"))
	objs, err := run(t, s, "/missions/tess/download_scripts/sector/tesscurl_sector_2_lc.sh", map[string]string{"format": "curl_script"})
	if err != nil || len(objs) != 1 {
		t.Fatalf("listing with a missing file: %v, %d objects", err, len(objs))
	}
	resp, err := s.Client().Get(objs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("missing file answered %d, want 404", resp.StatusCode)
	}
}

func TestCurlScriptWgetTree(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	paths := []string{
		"/missions/kepler/lightcurves/0007/000757076/kplr000757076-2009131105131_llc.fits",
		"/missions/kepler/lightcurves/0007/000757099/kplr000757099-2009131105131_llc.fits",
	}
	s.AddFile(paths[0], []byte("SIMPLE  =                    T / Kepler Q0"), mt)
	s.AddGenerated(paths[1], 70_000, 9)
	s.AddScript("/scripts/q00.sh", emulator.WgetScript, s.ScriptFiles(paths...))
	objs, err := run(t, s, "/scripts/q00.sh", map[string]string{"format": "curl_script"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(objs); len(got) != 2 || got[0] != "kplr000757076-2009131105131_llc.fits" || got[1] != "kplr000757099-2009131105131_llc.fits" {
		t.Fatalf("names %q", got)
	}
	byName := map[string]string{}
	for _, p := range paths {
		byName[p[strings.LastIndex(p, "/")+1:]] = p
	}
	fetchAll(t, s, objs, func(n string) string { return byName[n] })
}

func TestCurlScriptEntryErrors(t *testing.T) {
	s := emulator.NewServer()
	defer s.Close()
	s.AddFile("/s/ok.sh", []byte("#!/bin/sh\n"+lcLine+"\n"), mt)
	s.AddFile("/s/page.sh", []byte("<html><body>Maintenance</body></html>\n"), mt)
	s.AddFile("/s/escape.sh", []byte("#!/bin/sh\ncurl -o ../../x.fits https://h.example/x\n"), mt)
	tests := []struct {
		url    string
		params map[string]string
		reason string
		msg    string
	}{
		{"/s/ok.sh", map[string]string{"limit": "0"}, "", `reg.yaml:9: entry m: params limit "0": want a positive whole number`},
		{"/s/ok.sh", map[string]string{"limit": "ten"}, "", `params limit "ten"`},
		{"/s/ok.sh", map[string]string{"include": "[x"}, "", `params include: bad glob "[x"`},
		{"/s/page.sh", nil, sources.ReasonBadResponse, s.URL() + "/s/page.sh has no curl or wget download lines"},
		{"/s/escape.sh", nil, sources.ReasonBadResponse, s.URL() + `/s/escape.sh line 2: file name "../../x.fits" is not a clean relative path`},
		{"/s/gone.sh", nil, sources.ReasonHTTP404, "404"},
	}
	for _, tc := range tests {
		p := map[string]string{"format": "curl_script"}
		for k, v := range tc.params {
			p[k] = v
		}
		_, err := run(t, s, tc.url, p)
		if err == nil || !strings.Contains(err.Error(), tc.msg) || sources.ReasonOf(err) != tc.reason {
			t.Errorf("%s %v: err %v (reason %q), want %q with reason %q", tc.url, tc.params, err, sources.ReasonOf(err), tc.msg, tc.reason)
		}
	}
	if _, err := New().Objects(context.Background(), s.Client(), sources.Entry{ID: "m", URL: s.URL() + "/s/ok.sh", Params: map[string]string{"format": "curl"}}); err == nil || !strings.Contains(err.Error(), "curl_script") {
		t.Errorf("unknown format error %v does not list curl_script", err)
	}
}

// The registry's script-backed families, pointed at the emulator, list and
// fetch the files their scripts name under their own key prefixes.
func TestRegistryScriptFamilies(t *testing.T) {
	reg, err := sources.Default()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]sources.Entry{}
	for _, e := range reg.Entries {
		byID[e.ID] = e
	}
	s := emulator.NewServer()
	defer s.Close()
	s.ServeMASTDownloads("/mastfiles")
	s.AddGenerated("/mastfiles/TESS/product/"+dvName2, 4096, 1)
	s.AddGenerated("/mastfiles/TESS/product/"+fastName, 8192, 2)
	kep := "/missions/kepler/" + kepName
	s.AddGenerated(kep, 1000, 3)
	tests := []struct {
		id, key, scriptID string
		style             emulator.ScriptStyle
		files             []emulator.ScriptFile
		tree              string
	}{
		{"tess-sector-95-dv", "tess/spoc/sector-95/dv", "tess-sector-95-dv-sh", emulator.CurlScript, s.MASTScriptFiles("mast:TESS/product/" + dvName2), "/mastfiles/TESS/product/" + dvName2},
		{"tess-sector-27-fast-lc", "tess/spoc/sector-27/fast-lc", "tess-sector-27-fast-lc-sh", emulator.CurlScript, s.MASTScriptFiles("mast:TESS/product/" + fastName), "/mastfiles/TESS/product/" + fastName},
		// The object keeps the script's directories below the entry key:
		// kepler/quarters/Q00/long/lightcurves/0007/000757076/<file>.
		{"kepler-lightcurves-q00-long", "kepler/quarters/Q00/long", "kepler-lightcurves-q00-long-sh", emulator.KeplerCurlScript, s.ScriptFilesBelow("/missions/kepler/", kep), kep},
	}
	for _, tc := range tests {
		e, ok := byID[tc.id]
		sh, shOK := byID[tc.scriptID]
		if !ok || !shOK {
			t.Fatalf("registry lacks %s or %s", tc.id, tc.scriptID)
		}
		if e.Kind != "manifest" || e.Params["format"] != "curl_script" || e.Key != tc.key {
			t.Fatalf("%s: kind %s format %q key %s, want manifest curl_script %s", e.ID, e.Kind, e.Params["format"], e.Key, tc.key)
		}
		if sh.Kind != "http" || sh.URL != e.URL || !strings.HasSuffix(sh.Key, ".sh") {
			t.Fatalf("%s: kind %s url %s key %s, want the http script %s", sh.ID, sh.Kind, sh.URL, sh.Key, e.URL)
		}
		const public = "https://archive.stsci.edu"
		if !strings.HasPrefix(e.URL, public+"/") {
			t.Fatalf("%s: url %s is not on %s", e.ID, e.URL, public)
		}
		local := strings.TrimPrefix(e.URL, public)
		s.AddScript(local, tc.style, tc.files)
		e.URL = s.URL() + local
		objs, err := New().Objects(context.Background(), s.Client(), e)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 1 || objs[0].Name != tc.files[0].Name || tc.style == emulator.KeplerCurlScript && objs[0].Name != kepName {
			t.Fatalf("%s: objects %q, want %q", e.ID, names(objs), tc.files[0].Name)
		}
		fetchAll(t, s, objs, func(string) string { return tc.tree })
	}
}
