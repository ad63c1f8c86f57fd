package manifest

// The curl_script format: the listing is a publisher's bulk-download shell
// script, such as MAST's per-sector TESS scripts
// (https://archive.stsci.edu/missions/tess/download_scripts/sector/tesscurl_sector_1_lc.sh):
//
//	#!/bin/sh
//	curl -C - -L -o tess2018206045859-s0001-0000000008195886-0120-s_lc.fits https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/tess2018206045859-s0001-0000000008195886-0120-s_lc.fits
//
// or wget lists such as the NASA Exoplanet Archive's
// (wget -O 'kplr010000009-2009131105131_llc.fits' 'http://...' -a search.log).
// Each curl or wget command names files; nothing is run. The scripts carry
// no sizes or checksums, so the objects have Size -1 and no publisher
// checksum: integrity rests on Content-Length and on the sha256 the engine
// computes while streaming.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

func (k Kind) curlScript(ctx context.Context, c *http.Client, x *entryCtx) ([]sources.Object, error) {
	limit := x.limit
	body, err := listing.Get(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	dls, err := parseScript(string(body))
	if err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: x.e.URL + " " + err.Error()}
	}
	var objs []sources.Object
	for _, d := range dls {
		if !x.filter.Match(d.name) {
			continue
		}
		if limit > 0 && len(objs) == limit {
			break
		}
		objs = append(objs, sources.Object{Name: d.name, URL: d.url, Size: -1})
	}
	return objs, nil
}

// download is one file a script fetches.
type download struct {
	line int
	name string
	url  string
}

// parseScript reads the curl and wget commands of a shell script. Comments
// (the shebang too), blank lines and other commands (echo, mkdir, cd ...)
// are skipped. A name given twice is an error unless both lines fetch the
// same URL, which is then one file. Errors start with "line N:".
func parseScript(text string) ([]download, error) {
	cmds, err := shellCommands(text)
	if err != nil {
		return nil, err
	}
	var out []download
	seen := map[string]download{}
	for _, cmd := range cmds {
		prog, args := commandWords(cmd.words)
		var dls []download
		switch prog {
		case "curl":
			dls, err = curlDownloads(args)
		case "wget":
			dls, err = wgetDownloads(args)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", cmd.line, prog, err)
		}
		for _, d := range dls {
			d.line = cmd.line
			if !validName(d.name) {
				return nil, fmt.Errorf("line %d: file name %q is not a clean relative path", d.line, d.name)
			}
			if prev, dup := seen[d.name]; dup {
				if prev.url == d.url {
					continue
				}
				return nil, fmt.Errorf("line %d: file name %q is also given on line %d, for another URL", d.line, d.name, prev.line)
			}
			seen[d.name] = d
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("has no curl or wget download lines")
	}
	return out, nil
}

// Options that take a value, so their value is never read as a URL.
var (
	curlShortValue = "AbcCdDeEFHKmoPQrtTuUwxXyYz"
	curlLongValue  = setOf("abstract-unix-socket", "alt-svc", "aws-sigv4", "cacert", "capath", "cert", "cert-type",
		"ciphers", "config", "connect-timeout", "connect-to", "continue-at", "cookie", "cookie-jar", "create-file-mode",
		"crlfile", "data", "data-ascii", "data-binary", "data-raw", "data-urlencode", "delegation", "dns-interface",
		"dns-ipv4-addr", "dns-ipv6-addr", "dns-servers", "doh-url", "dump-header", "egd-file", "engine", "etag-compare",
		"etag-save", "expect100-timeout", "form", "form-string", "ftp-account", "ftp-alternative-to-user", "ftp-method",
		"ftp-port", "ftp-ssl-ccc-mode", "happy-eyeballs-timeout-ms", "header", "hostpubmd5", "hostpubsha256", "hsts",
		"interface", "ipfs-gateway", "json", "keepalive-time", "key", "key-type", "krb", "libcurl", "limit-rate",
		"local-port", "login-options", "mail-auth", "mail-from", "mail-rcpt", "max-filesize", "max-redirs", "max-time",
		"netrc-file", "noproxy", "oauth2-bearer", "output", "output-dir", "parallel-max", "pass", "pinnedpubkey",
		"preproxy", "proto", "proto-default", "proto-redir", "proxy", "proxy-cacert", "proxy-capath", "proxy-cert",
		"proxy-cert-type", "proxy-ciphers", "proxy-header", "proxy-key", "proxy-key-type", "proxy-pass", "proxy-user",
		"proxy1.0", "pubkey", "quote", "random-file", "range", "rate", "referer", "request", "request-target", "resolve",
		"retry", "retry-delay", "retry-max-time", "sasl-authzid", "service-name", "socks4", "socks4a", "socks5",
		"socks5-gssapi-service", "socks5-hostname", "speed-limit", "speed-time", "stderr", "telnet-option", "tftp-blksize",
		"time-cond", "tls-max", "tls13-ciphers", "tlsauthtype", "tlspassword", "tlsuser", "trace", "trace-ascii",
		"trace-config", "unix-socket", "upload-file", "url", "url-query", "user", "user-agent", "variable", "write-out")
	wgetShortValue = "aABDeiIloOPQRtTUwX"
	wgetLongValue  = setOf("accept", "accept-regex", "append-output", "base", "bind-address", "body-data", "body-file",
		"ca-certificate", "ca-directory", "certificate", "certificate-type", "config", "connect-timeout", "cut-dirs",
		"default-page", "directory-prefix", "dns-timeout", "domains", "exclude-directories", "exclude-domains", "execute",
		"ftp-password", "ftp-user", "header", "http-password", "http-user", "include-directories", "input-file", "level",
		"limit-rate", "load-cookies", "local-encoding", "method", "output-document", "output-file", "password",
		"post-data", "post-file", "private-key", "private-key-type", "progress", "proxy-password", "proxy-user", "quota",
		"read-timeout", "referer", "reject", "reject-regex", "rejected-log", "remote-encoding", "report-speed",
		"restrict-file-names", "save-cookies", "secure-protocol", "timeout", "tries", "user", "user-agent", "wait",
		"waitretry", "warc-file")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// opt is one parsed command-line option.
type opt struct {
	name  string // "o", "output", ...
	value string
	long  bool
}

// scanArgs separates options from operands. valueShort lists the short
// options that take a value (in the same word, "-ofile", or the next);
// valueLong the long ones ("--opt value" or "--opt=value"). wgetN makes
// "-n" take the next letter as part of its name (wget's -nH, -nc, -np, -nd, -nv).
func scanArgs(args []word, valueShort string, valueLong map[string]bool, wgetN bool) ([]opt, []word, error) {
	var opts []opt
	var operands []word
	for i := 0; i < len(args); i++ {
		a := args[i].text
		switch {
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			if valueLong[name] && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("option --%s needs a value", name)
				}
				i++
				val = args[i].text
			}
			opts = append(opts, opt{name: name, value: val, long: true})
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				c := a[j]
				if wgetN && c == 'n' && j+1 < len(a) {
					opts = append(opts, opt{name: "n" + string(a[j+1])})
					j++
					continue
				}
				if strings.IndexByte(valueShort, c) < 0 {
					opts = append(opts, opt{name: string(c)})
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("option -%c needs a value", c)
					}
					i++
					val = args[i].text
				}
				opts = append(opts, opt{name: string(c), value: val})
				break
			}
		default:
			operands = append(operands, args[i])
		}
	}
	return opts, operands, nil
}

// curlDownloads follows curl's rules: each URL takes the next -o/-O in
// order, whatever their positions; a URL without one (curl would write it
// to stdout) keeps its remote name here too.
func curlDownloads(args []word) ([]download, error) {
	opts, operands, err := scanArgs(args, curlShortValue, curlLongValue, false)
	if err != nil {
		return nil, err
	}
	type output struct {
		name   string
		remote bool
	}
	var outs []output
	var urls []word
	var dir string
	globOff := false
	for _, o := range opts {
		switch {
		case o.name == "o" || o.long && o.name == "output":
			outs = append(outs, output{name: o.value})
		case o.name == "O" || o.long && o.name == "remote-name":
			outs = append(outs, output{remote: true})
		case o.long && o.name == "output-dir":
			dir = o.value
		case o.name == "g" || o.long && o.name == "globoff":
			globOff = true
		case o.long && o.name == "url":
			urls = append(urls, word{text: o.value})
		}
	}
	urls = append(urls, operands...)
	var dls []download
	for i, u := range urls {
		pu, err := httpURL(u)
		if err != nil {
			return nil, err
		}
		if !globOff && strings.ContainsAny(u.text, "[]{}") {
			return nil, fmt.Errorf("URL %q uses curl's URL globbing, which names files a mirror cannot list", u.text)
		}
		name := ""
		if i < len(outs) && !outs[i].remote && outs[i].name != "-" {
			name = outs[i].name
		}
		if name, err = fileName(name, dir, pu); err != nil {
			return nil, err
		}
		dls = append(dls, download{name: name, url: u.text})
	}
	return dls, nil
}

// wgetDownloads: -O names the single download (several URLs with -O would
// be concatenated into one file, so that is refused); -P is a directory
// prefix; -o and -a are log files. Options that make wget discover files
// on its own are refused, as the script then does not list them.
func wgetDownloads(args []word) ([]download, error) {
	opts, operands, err := scanArgs(args, wgetShortValue, wgetLongValue, true)
	if err != nil {
		return nil, err
	}
	var name, dir string
	for _, o := range opts {
		switch {
		case o.name == "O" || o.long && o.name == "output-document":
			name = o.value
		case o.name == "P" || o.long && o.name == "directory-prefix":
			dir = o.value
		case o.name == "r" || o.long && o.name == "recursive", o.name == "m" || o.long && o.name == "mirror":
			return nil, fmt.Errorf("recursive downloads (-r, -m) name no files; mirror the directory with kind index instead")
		case o.name == "i" || o.long && o.name == "input-file":
			return nil, fmt.Errorf("-i reads its URLs from another file, which the script does not hold")
		case o.name == "p" || o.long && o.name == "page-requisites", o.name == "x" || o.long && o.name == "force-directories":
			return nil, fmt.Errorf("-p and -x derive file names from the server, which the script does not show")
		}
	}
	if name != "" && name != "-" && len(operands) > 1 {
		return nil, fmt.Errorf("-O %s with %d URLs would join them into one file", name, len(operands))
	}
	var dls []download
	for _, u := range operands {
		pu, err := httpURL(u)
		if err != nil {
			return nil, err
		}
		n := name
		if n == "-" {
			n = ""
		}
		d := dir
		if n != "" {
			d = "" // wget -O ignores -P
		}
		if n, err = fileName(n, d, pu); err != nil {
			return nil, err
		}
		dls = append(dls, download{name: n, url: u.text})
	}
	return dls, nil
}

func httpURL(w word) (*url.URL, error) {
	if w.expands {
		return nil, fmt.Errorf("URL %q needs shell expansion, which a mirror cannot do", w.text)
	}
	u, err := url.Parse(w.text)
	if err != nil || !sources.FetchableURL(u) {
		return nil, fmt.Errorf("%q is not an http(s) URL", w.text)
	}
	return u, nil
}

// fileName is the explicit name (with any directory option before it) or
// else the remote name: the basename of the uri query parameter for MAST's
// Download/file?uri=mast:TESS/product/<file> links, or of the URL path.
func fileName(name, dir string, u *url.URL) (string, error) {
	if name == "" {
		if v := u.Query().Get("uri"); v != "" {
			if i := strings.IndexByte(v, ':'); i > 0 && !strings.Contains(v[:i], "/") {
				v = v[i+1:]
			}
			if !strings.HasSuffix(v, "/") {
				name = path.Base(v)
			}
		} else if u.Path != "" && !strings.HasSuffix(u.Path, "/") {
			name = path.Base(u.Path)
		}
		if name == "" || name == "." || name == "/" {
			return "", fmt.Errorf("no output name and URL %s ends in no file name", u.Redacted())
		}
	}
	name = trimDotSlash(name)
	if dir = strings.TrimRight(trimDotSlash(dir), "/"); dir != "" && dir != "." {
		name = dir + "/" + name
	}
	return name, nil
}

func trimDotSlash(s string) string {
	for strings.HasPrefix(s, "./") {
		s = strings.TrimLeft(s[2:], "/")
	}
	return s
}
