package emulator

import (
	"bytes"
	"fmt"
	"strings"
)

// renderGTDB renders a directory the way the GTDB data server
// (https://data.gtdb.ecogenomic.org/releases/) lists it, as far as the
// public clients that parse it show: a table whose body rows are
//
//	<tr><td><img ...></td><td class="n"><a href="release202/">release202</a>/</td><td class="m">2021-04-27 02:07</td>...
//
// for directories (the slash after the link; a Rust client matches exactly
// this up to the date, which it parses as %Y-%m-%d %H:%M), file links with
// class="plausible-event-name=Download" (the same client's file regex), a
// "t" cell saying Directory or File (kbase/cdm-data-loaders classifies rows
// by it, reading "table tbody tr") and icons such as folder.svg and
// txt.svg. The size cell's format and the page around the table are not
// shown by any of them; they follow lighttpd's dirlisting, whose cell
// classes these are.
func renderGTDB(dir string, entries []dirEntry) []byte {
	var b bytes.Buffer
	t := xmlEscape(dir)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Index of %s</title>\n</head>\n<body>\n<h2>Index of %s</h2>\n", t, t)
	b.WriteString("<div class=\"list\">\n<table summary=\"Directory Listing\" cellpadding=\"0\" cellspacing=\"0\">\n")
	b.WriteString("<thead><tr><th></th><th class=\"n\">Name</th><th class=\"m\">Last Modified</th><th class=\"s\">Size</th><th class=\"t\">Type</th></tr></thead>\n<tbody>\n")
	b.WriteString("<tr><td><img src=\"/icons/back.svg\" alt=\"[PARENTDIR]\"></td><td class=\"n\"><a href=\"../\">Parent Directory</a>/</td><td class=\"m\">&nbsp;</td><td class=\"s\">- &nbsp;</td><td class=\"t\">Directory</td></tr>\n")
	for _, e := range entries {
		href := hrefEscape(e.name)
		when := e.modTime.Format("2006-01-02 15:04")
		if e.dir {
			fmt.Fprintf(&b, "<tr><td><img src=\"/icons/folder.svg\" alt=\"[DIR]\"></td><td class=\"n\"><a href=\"%s/\">%s</a>/</td><td class=\"m\">%s</td><td class=\"s\">- &nbsp;</td><td class=\"t\">Directory</td></tr>\n",
				href, xmlEscape(e.name), when)
			continue
		}
		icon := "file.svg"
		switch {
		case strings.HasSuffix(e.name, ".txt"), strings.HasSuffix(e.name, ".tsv"):
			icon = "txt.svg"
		case strings.Contains(e.name, ".tree"):
			icon = "tree.svg"
		}
		fmt.Fprintf(&b, "<tr><td><img src=\"/icons/%s\" alt=\"[FILE]\"></td><td class=\"n\"><a class=\"plausible-event-name=Download\" href=\"%s\">%s</a></td><td class=\"m\">%s</td><td class=\"s\">%s</td><td class=\"t\">File</td></tr>\n",
			icon, href, xmlEscape(e.name), when, strings.TrimSpace(humanSize(e.size)))
	}
	b.WriteString("</tbody>\n</table>\n</div>\n</body>\n</html>\n")
	return b.Bytes()
}
