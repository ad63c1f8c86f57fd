package manifest

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
	"github.com/astroingest/astroingest/sources/listing"
)

// metalinkDoc covers metalink 3.0 (<files><file><verification><hash>,
// <resources><url>) and metalink 4 / RFC 5854 (<file><hash>, <url>);
// element names match in any namespace.
type metalinkDoc struct {
	XMLName xml.Name       `xml:"metalink"`
	Files3  []metalinkFile `xml:"files>file"`
	Files4  []metalinkFile `xml:"file"`
}

type metalinkFile struct {
	Name   string         `xml:"name,attr"`
	Size   int64          `xml:"size"`
	Hashes []metalinkHash `xml:"verification>hash"`
	Hash4  []metalinkHash `xml:"hash"`
	URLs   []string       `xml:"resources>url"`
	URL4   []string       `xml:"url"`
}

type metalinkHash struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

// hashPreference: sha256 first (the engine computes it anyway), then md5.
var hashPreference = []string{"sha256", "md5", "sha1", "sha512"}

func normAlgo(t string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(t)), "-", "")
}

func (k Kind) metalink(ctx context.Context, c *http.Client, x *entryCtx) ([]sources.Object, error) {
	body, err := listing.Get(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	var doc metalinkDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s is not metalink XML", x.e.URL), Err: err}
	}
	files := append(doc.Files3, doc.Files4...)
	var objs []sources.Object
	for i, f := range files {
		name := strings.TrimSpace(f.Name)
		if name == "" {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: <file> number %d has no name", x.e.URL, i+1)}
		}
		if !x.filter.Match(name) {
			continue
		}
		o := sources.Object{Name: name, Size: -1}
		if f.Size > 0 {
			o.Size = f.Size
		}
		o.URL = pickURL(append(f.URLs, f.URL4...))
		if o.URL == "" {
			o.URL = resolve(x.base, name)
		}
		hashes := append(f.Hashes, f.Hash4...)
	pick:
		for _, want := range hashPreference {
			for _, h := range hashes {
				v := strings.ToLower(strings.TrimSpace(h.Value))
				if normAlgo(h.Type) != want {
					continue
				}
				if got, ok := checksum.AlgoForHex(v); !ok || got != want {
					return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: file %q: %s hash %q is not hex of the right length", x.e.URL, name, h.Type, v)}
				}
				o.Checksum = &sources.Checksum{Algo: want, Value: v}
				break pick
			}
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// pickURL is the first http(s) mirror; ftp:// and others are skipped since
// the engine speaks HTTP only.
func pickURL(urls []string) string {
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err == nil && sources.FetchableURL(u) {
			return u.String()
		}
	}
	return ""
}
