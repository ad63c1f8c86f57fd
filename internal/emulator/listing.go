package emulator

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// ListingStyle is how a directory of the tree is listed: the HTML of the
// web server named, byte for byte in its layout, or S3's XML.
type ListingStyle int

const (
	// ApacheFancy is Apache mod_autoindex with FancyIndexing in a <pre> block
	// (the default for directories without a configured style).
	ApacheFancy ListingStyle = iota
	// ApacheTable is Apache mod_autoindex with IndexOptions HTMLTable.
	ApacheTable
	// Nginx is nginx autoindex with exact sizes.
	Nginx
	// S3 serves the prefix as an S3 bucket: GET on the prefix root answers
	// ListBucket XML (v1, and v2 with list-type=2), paginated by the page
	// size given to SetS3PageSize.
	S3
	// NoListing answers 403 for directories, as many servers do.
	NoListing
	// GTDBListing is the GTDB data server's table listing (see renderGTDB).
	GTDBListing
)

// SetListing sets how directories at or below prefix (e.g. "/gaia/") are
// listed; the longest matching prefix wins. For S3 the prefix is the bucket
// root: its listing answers at "<prefix>?list-type=2&prefix=..." and objects
// are "<prefix><key>".
func (s *Server) SetListing(prefix string, style ListingStyle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tree.listings[dirPath(prefix)] = style
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xmlEscapeTo(&b, s)
	return b.String()
}

func humanSize(n int64) string {
	// Apache's apr_strfsize: bytes below 973, then K/M/G with one decimal
	// below 9.95 units and none above.
	if n < 0 {
		return "  - "
	}
	if n < 973 {
		return fmt.Sprintf("%3d ", n)
	}
	units := "KMGTPE"
	v := float64(n)
	for i := 0; i < len(units); i++ {
		v /= 1024
		if v < 9.95 {
			return fmt.Sprintf("%.1f%c", v, units[i])
		}
		if v < 973 || i == len(units)-1 {
			return fmt.Sprintf("%3d%c", int64(v+0.5), units[i])
		}
	}
	return "?"
}

// hrefEscape percent-encodes a path for an href, keeping '/' and the
// characters Apache and nginx leave alone.
func hrefEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/!$'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// renderApache renders mod_autoindex output as Apache 2.4 does with
// FancyIndexing, in its <pre> form or (table) its HTMLTable form. Long names
// are cut in the text with "..&gt;" while the href keeps the full name.
func renderApache(dir string, entries []dirEntry, table bool) []byte {
	var b bytes.Buffer
	title := xmlEscape(strings.TrimSuffix(dir, "/"))
	if title == "" {
		title = "/"
	}
	parent := path.Dir(strings.TrimSuffix(dir, "/"))
	if parent != "/" {
		parent += "/"
	}
	fmt.Fprintf(&b, "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index of %s</title>\n </head>\n <body>\n<h1>Index of %s</h1>\n", title, title)
	const nameWidth = 23
	if table {
		b.WriteString("  <table>\n   <tr><th valign=\"top\"><img src=\"/icons/blank.gif\" alt=\"[ICO]\"></th><th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th><th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n   <tr><th colspan=\"5\"><hr></th></tr>\n")
		fmt.Fprintf(&b, "<tr><td valign=\"top\"><img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"></td><td><a href=\"%s\">Parent Directory</a></td><td>&nbsp;</td><td align=\"right\">  - </td><td>&nbsp;</td></tr>\n", hrefEscape(parent))
		for _, e := range entries {
			icon, alt, href := "/icons/unknown.gif", "[   ]", hrefEscape(e.name)
			if e.dir {
				icon, alt, href = "/icons/folder.gif", "[DIR]", href+"/"
			}
			text, _ := apacheName(e, nameWidth)
			fmt.Fprintf(&b, "<tr><td valign=\"top\"><img src=\"%s\" alt=\"%s\"></td><td><a href=\"%s\">%s</a></td><td align=\"right\">%s  </td><td align=\"right\">%s</td><td>&nbsp;</td></tr>\n",
				icon, alt, href, text, e.modTime.Format("2006-01-02 15:04"), strings.TrimSpace(humanSize(sizeOrDash(e))))
		}
		b.WriteString("   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n")
	} else {
		b.WriteString("<pre><img src=\"/icons/blank.gif\" alt=\"Icon \"> <a href=\"?C=N;O=D\">Name</a>                    <a href=\"?C=M;O=A\">Last modified</a>      <a href=\"?C=S;O=A\">Size</a>  <a href=\"?C=D;O=A\">Description</a><hr>")
		fmt.Fprintf(&b, "<img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"> <a href=\"%s\">Parent Directory</a>                             -   \n", hrefEscape(parent))
		for _, e := range entries {
			icon, alt, href := "/icons/unknown.gif", "[   ]", hrefEscape(e.name)
			if e.dir {
				icon, alt, href = "/icons/folder.gif", "[DIR]", href+"/"
			}
			text, width := apacheName(e, nameWidth)
			fmt.Fprintf(&b, "<img src=\"%s\" alt=\"%s\"> <a href=\"%s\">%s</a>%s %s  %s  \n",
				icon, alt, href, text, strings.Repeat(" ", nameWidth-width), e.modTime.Format("2006-01-02 15:04"), humanSize(sizeOrDash(e)))
		}
		b.WriteString("<hr></pre>\n")
	}
	b.WriteString("<address>Apache/2.4.62 (Unix) Server at 127.0.0.1 Port 80</address>\n</body></html>\n")
	return b.Bytes()
}

func sizeOrDash(e dirEntry) int64 {
	if e.dir {
		return -1
	}
	return e.size
}

// apacheName is the displayed (escaped) name and its visible width.
func apacheName(e dirEntry, width int) (string, int) {
	n := e.name
	if e.dir {
		n += "/"
	}
	if len(n) > width {
		return xmlEscape(n[:width-3]) + "..&gt;", width
	}
	return xmlEscape(n), len(n)
}

// renderNginx renders ngx_http_autoindex_module's HTML with
// autoindex_exact_size on: names cut at 50 columns with "..&gt;", dates as
// 02-Jan-2006 15:04, sizes right-aligned in 19 columns, "-" for directories.
func renderNginx(dir string, entries []dirEntry) []byte {
	var b bytes.Buffer
	t := xmlEscape(dir)
	fmt.Fprintf(&b, "<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\r\n", t, t)
	const nameLen = 50
	// nginx lists directories first.
	sorted := append([]dirEntry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].dir && !sorted[j].dir })
	for _, e := range sorted {
		n := e.name
		href := hrefEscape(n)
		if e.dir {
			n += "/"
			href += "/"
		}
		text, width := xmlEscape(n), len(n)
		if width > nameLen {
			text, width = xmlEscape(n[:nameLen-3])+"..&gt;", nameLen
		}
		size := fmt.Sprintf("%19d", e.size)
		if e.dir {
			size = fmt.Sprintf("%19s", "-")
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>%s %s %s\r\n", href, text, strings.Repeat(" ", nameLen-width), e.modTime.Format("02-Jan-2006 15:04"), size)
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return b.Bytes()
}

func xmlEscapeTo(w io.Writer, s string) error { return xml.EscapeText(w, []byte(s)) }
