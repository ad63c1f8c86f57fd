package emulator

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// syntheticModTime is the Last-Modified of every synthetic file.
var syntheticModTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// AddSynthetic serves a directory of n generated files under dir (a path
// ending in "/") without holding them: an nginx autoindex page listing
// f0000000.dat ... with their exact sizes, and each file's bytes made on
// the fly from its index, with an ETag, a Last-Modified and Range
// support, as nginx serves static files. size gives file i's size. It is
// how the scale benchmark and tests get entries of up to millions of
// objects with no disk tree. Call it before serving; the directory is
// then read-only and safe for concurrent use.
func (s *Server) AddSynthetic(dir string, n int, size func(i int) int64) {
	s.HandleFunc(dir, func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, dir)
		if name == "" {
			serveSyntheticIndex(w, dir, n, size)
			return
		}
		i, ok := syntheticIndex(name)
		if !ok || i >= n {
			http.NotFound(w, r)
			return
		}
		sz := size(i)
		seed := int64(i)*0x5851f42d4c957f2d + int64(len(dir))
		w.Header().Set("ETag", fmt.Sprintf(`"syn-%x-%x"`, sz, seed))
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, name, syntheticModTime, newGenSection(seed, sz))
	})
}

// SyntheticName is the name of file i of a synthetic directory.
func SyntheticName(i int) string { return fmt.Sprintf("f%07d.dat", i) }

func syntheticIndex(name string) (int, bool) {
	num, ok := strings.CutPrefix(name, "f")
	num, ok2 := strings.CutSuffix(num, ".dat")
	if !ok || !ok2 || len(num) != 7 {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	return i, err == nil && i >= 0
}

// serveSyntheticIndex writes the autoindex page as nginx does, one file a
// line, streamed.
func serveSyntheticIndex(w http.ResponseWriter, dir string, n int, size func(int) int64) {
	w.Header().Set("Content-Type", "text/html")
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\r\n", dir, dir)
	date := syntheticModTime.Format("02-Jan-2006 15:04")
	for i := range n {
		name := SyntheticName(i)
		fmt.Fprintf(bw, "<a href=\"%s\">%s</a>%s%s %19d\r\n", name, name, strings.Repeat(" ", 51-len(name)), date, size(i))
	}
	bw.WriteString("</pre><hr></body>\r\n</html>\r\n")
	bw.Flush()
}
