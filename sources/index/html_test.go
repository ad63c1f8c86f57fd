package index

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// eachLink parses a page a row at a time: a link split over lines, the
// icon link Apache prints before the name, and a row longer than the
// reader's buffer all come out once, with their sizes.
func TestEachLinkRows(t *testing.T) {
	dir, _ := url.Parse("https://pub.example/data/")
	page := `<html><body><pre>
<a href="../">../</a>
<a href="a.nc">a.nc</a>                 01-May-2024 12:00    12345
<a href="icon.nc"><img src="/i.gif"></a> <a href="icon.nc">icon.nc</a> 2024-05-01 12:00  1.2M
<a
 href="split.nc">split.nc</a>           01-May-2024 12:00    7
<a href="long.nc">` + strings.Repeat("x", 200_000) + `</a> 01-May-2024 12:00    9
<a href="sub/">sub/</a>                 01-May-2024 12:00    -
</pre></body></html>`
	var got []string
	err := eachLink(dir, strings.NewReader(page), func(l link) error {
		got = append(got, fmt.Sprintf("%s=%d@%s", l.rel, l.size, l.mod.Format("2006-01-02T15:04")))
		return nil
	})
	want := []string{"a.nc=12345@2024-05-01T12:00", "icon.nc=-1@2024-05-01T12:00", "split.nc=7@2024-05-01T12:00", "long.nc=9@2024-05-01T12:00", "sub/=-1@2024-05-01T12:00"}
	if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("links %q (%v), want %q", got, err, want)
	}
}

// A listing of many files streams: each is handed over as its row is read,
// and emit's error stops the walk.
func TestEachLinkStreamsAndStops(t *testing.T) {
	dir, _ := url.Parse("https://pub.example/data/")
	var b strings.Builder
	for i := range 50_000 {
		fmt.Fprintf(&b, "<a href=\"f%06d.nc\">f%06d.nc</a>  01-May-2024 12:00  %d\n", i, i, i)
	}
	n := 0
	stop := errors.New("stop")
	err := eachLink(dir, strings.NewReader(b.String()), func(l link) error {
		if n++; n == 40_000 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 40_000 {
		t.Fatalf("stopped after %d links with %v", n, err)
	}
}
