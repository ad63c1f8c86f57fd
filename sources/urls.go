package sources

import "net/url"

// FetchableURL reports whether u is a URL the engine can fetch: absolute
// http:// or https:// with a host. It is the one check for URLs a kind
// discovers at run time (hrefs in listings, table cells, metalink mirrors,
// lines of download scripts, TAP result rows). The URLs a registry declares
// (an entry's url and checksums) are checked by the loader instead, and more
// strictly: https unless the family allows http, and no user info; kinds
// rely on that and do not check them again. A pure function, safe for
// concurrent use.
func FetchableURL(u *url.URL) bool {
	return u != nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
