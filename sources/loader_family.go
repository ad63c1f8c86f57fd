package sources

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// host decodes one host policy. Fields left out stay zero: NewHosts fills
// in the defaults.
func (s *fileDecoder) host(f *srcFile, n *yaml.Node, path string) {
	m, ok := s.mapping(f, n, path, hostFields)
	if !ok {
		return
	}
	h := HostPolicy{File: f.name, Line: m.n.Line}
	h.Host = s.required(f, m, "host")
	valid := validHost(h.Host)
	if h.Host != "" && !valid {
		s.errs.add(f, m.line("host"), m.field("host"), "%q is not a host name (want e.g. data.example.org, lower case, without scheme or path)", h.Host)
	}
	if v, ok := s.int64(f, m, "concurrency"); ok {
		if v < 1 {
			s.errs.add(f, m.line("concurrency"), m.field("concurrency"), "must be at least 1, got %d", v)
		}
		h.Concurrency = int(v)
	}
	if v, ok := s.float(f, m, "rps"); ok {
		if v <= 0 {
			s.errs.add(f, m.line("rps"), m.field("rps"), "must be above 0, got %g", v)
		}
		h.RPS = v
	}
	if v, ok := s.int64(f, m, "burst"); ok {
		if v < 1 {
			s.errs.add(f, m.line("burst"), m.field("burst"), "must be at least 1, got %d", v)
		}
		h.Burst = int(v)
	}
	h.Gate = s.str(f, m, "gate")
	h.GateReason = s.str(f, m, "gate_reason")
	switch {
	case h.Gate != "" && !validEnvName(h.Gate):
		s.errs.add(f, m.line("gate"), m.field("gate"), "%q is not an environment variable name (want e.g. KEGG_ACADEMIC_USE)", h.Gate)
	case h.Gate != "" && h.GateReason == "":
		s.errs.add(f, m.line("gate"), m.field("gate_reason"), "a gated host must say why in gate_reason")
	case h.Gate == "" && h.GateReason != "":
		s.errs.add(f, m.line("gate_reason"), m.field("gate_reason"), "gate_reason without gate")
	}
	if cn := m.get("credential"); cn != nil {
		h.Credential = s.credential(f, cn, m.field("credential"))
	}
	if valid {
		s.hosts = append(s.hosts, hostDecl{h: h, line: m.line("host"), field: m.field("host")})
	}
}

func (s *fileDecoder) credential(f *srcFile, n *yaml.Node, path string) *Credential {
	m, ok := s.mapping(f, n, path, credFields)
	if !ok {
		return nil
	}
	c := &Credential{Env: s.required(f, m, "env"), Header: s.str(f, m, "header"), Query: s.str(f, m, "query"), Required: s.bool(f, m, "required")}
	if c.Env != "" && !validEnvName(c.Env) {
		s.errs.add(f, m.line("env"), m.field("env"), "%q is not an environment variable name (want e.g. NCBI_API_KEY)", c.Env)
	}
	switch {
	case c.Header == "" && c.Query == "":
		s.errs.add(f, m.n.Line, path, "set exactly one of header or query (neither is set)")
	case c.Header != "" && c.Query != "":
		s.errs.add(f, m.n.Line, path, "set exactly one of header or query (both are set)")
	}
	if v, ok := s.float(f, m, "rps"); ok {
		if v <= 0 {
			s.errs.add(f, m.line("rps"), m.field("rps"), "must be above 0, got %g", v)
		}
		c.RPS = v
	}
	return c
}

// familySpec is a decoded family before expansion.
type familySpec struct {
	fam   Family
	pos   famPos
	sound bool // expansion and templates usable: the family yields fam.Count entries
	exp   expansion
	id    template
	key   template
	url   template
	sums  template
	param []paramTemplate
}

type paramTemplate struct {
	name string
	t    template
}

// family decodes and checks one family, and compiles its expansion and
// templates; entries are rendered later, once every file is decoded.
func (s *fileDecoder) family(f *srcFile, n *yaml.Node, path string) {
	m, ok := s.mapping(f, n, path, familyFields)
	if !ok {
		return
	}
	sp := familySpec{pos: famPos{path: path, f: f}}
	fam := &sp.fam
	fam.File, fam.Line = f.name, m.n.Line
	fam.ID = s.required(f, m, "id")
	if fam.ID != "" && !validFamilyID(fam.ID) {
		s.errs.add(f, m.line("id"), m.field("id"), "%q is not a family ID (want lower-case letters, digits and \"-\", starting with a letter or digit)", fam.ID)
	}
	fam.Domain = s.required(f, m, "domain")
	if fam.Domain != "" && !slices.Contains(s.domains, fam.Domain) {
		s.errs.add(f, m.line("domain"), m.field("domain"), "unknown domain %q (want one of %s)", fam.Domain, strings.Join(s.domains, ", "))
	}
	fam.Meta = Meta{
		Title:       s.required(f, m, "title"),
		Description: s.str(f, m, "description"),
		Provider:    s.required(f, m, "provider"),
		License:     s.required(f, m, "license"),
		Citation:    s.required(f, m, "citation"),
		DOI:         s.str(f, m, "doi"),
		Homepage:    s.str(f, m, "homepage"),
	}
	switch {
	case fam.Meta.DOI == "" && fam.Meta.Homepage == "":
		s.errs.add(f, m.n.Line, m.field("doi"), "a family needs a doi or a homepage (or both)")
	case fam.Meta.DOI != "" && !validDOI(fam.Meta.DOI):
		s.errs.add(f, m.line("doi"), m.field("doi"), "%q is not a DOI (want 10.NNNN/suffix, without a https://doi.org/ prefix)", fam.Meta.DOI)
	}
	if h := fam.Meta.Homepage; h != "" {
		if u, err := url.Parse(h); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			s.errs.add(f, m.line("homepage"), m.field("homepage"), "%q is not an http(s) URL", h)
		}
	}
	fam.Kind = s.required(f, m, "kind")
	if fam.Kind != "" && s.checkKinds && !slices.Contains(s.kinds, fam.Kind) {
		s.errs.add(f, m.line("kind"), m.field("kind"), "unknown kind %q (want one of %s)", fam.Kind, strings.Join(s.kinds, ", "))
	}
	fam.Schedule = s.str(f, m, "schedule")
	if fam.Schedule == "" {
		fam.Schedule = "monthly"
	} else if !slices.Contains(Schedules(), fam.Schedule) {
		s.errs.add(f, m.line("schedule"), m.field("schedule"), "unknown schedule %q (want one of %s)", fam.Schedule, strings.Join(Schedules(), ", "))
	}
	if v, ok := s.int64(f, m, "budget_bytes"); ok {
		if v < 0 {
			s.errs.add(f, m.line("budget_bytes"), m.field("budget_bytes"), "must not be negative, got %d", v)
		}
		fam.BudgetBytes = v
	}
	fam.AllowHTTP = s.bool(f, m, "allow_http")
	fam.AllowHTTPReason = s.str(f, m, "allow_http_reason")
	switch {
	case fam.AllowHTTP && fam.AllowHTTPReason == "":
		s.errs.add(f, m.line("allow_http"), m.field("allow_http_reason"), "allow_http: true needs allow_http_reason (why this publisher cannot be fetched over https)")
	case !fam.AllowHTTP && fam.AllowHTTPReason != "":
		s.errs.add(f, m.line("allow_http_reason"), m.field("allow_http_reason"), "allow_http_reason without allow_http: true")
	}
	fam.ContentTypes = s.mediaTypes(f, m, "content_types")
	fam.RedirectHosts = s.hostNames(f, m, "redirect_hosts")
	sp.pos.famIDLine = m.line("id")

	// The expansion and templates must be sound before any entry exists.
	sound := s.expand(f, m, &sp.exp)
	if en := m.get("entry"); en == nil {
		s.errs.add(f, m.n.Line, m.field("entry"), "missing required field")
		sound = false
	} else if !s.entryTemplates(f, en, m.field("entry"), &sp, sound) {
		sound = false
	}
	sp.sound = sound && s.countEntries(&sp)
	s.fams = append(s.fams, &sp)
}

// countEntries sets the family's entry count, refusing expansions that are
// too large or that would give every entry the same ID or key.
func (s *fileDecoder) countEntries(sp *familySpec) bool {
	f, pos := sp.pos.f, sp.pos
	n, err := sp.exp.count()
	if err != nil {
		s.errs.add(f, sp.fam.Line, pos.path+".expand", "%v", err)
		return false
	}
	sound := true
	if n > 1 && !sp.id.hasVars() {
		s.errs.add(f, pos.idLine, pos.path+".entry.id", "uses no expand variable, so all %d entries would share one ID", n)
		sound = false
	}
	if n > 1 && !sp.key.hasVars() {
		s.errs.add(f, pos.keyLine, pos.path+".entry.key", "uses no expand variable, so all %d entries would share one key", n)
		sound = false
	}
	if sound {
		sp.fam.Count = n
	}
	return sound
}

// entryTemplates compiles the entry templates against the expansion's
// variables, so an unknown variable is reported once, not once per entry.
//
// When the expansion itself is broken its variables are unknown, so unknown
// variable errors would only echo the expansion's error and are left out.
func (s *fileDecoder) entryTemplates(f *srcFile, n *yaml.Node, path string, sp *familySpec, expansionSound bool) bool {
	m, ok := s.mapping(f, n, path, entryFields)
	if !ok {
		return false
	}
	sp.pos.idLine, sp.pos.keyLine, sp.pos.urlLine, sp.pos.sumsLine = m.line("id"), m.line("key"), m.line("url"), m.line("checksums")
	sp.pos.paramsLine = m.line("params")
	sound := true
	report := func(line int, field string, err error) {
		var uv *unknownVarError
		if expansionSound || !errors.As(err, &uv) {
			s.errs.add(f, line, field, "%v", err)
		}
		sound = false
	}
	compile := func(key string, required bool) template {
		var src string
		if required {
			src = s.required(f, m, key)
			if src == "" {
				sound = false
				return template{}
			}
		} else {
			src = s.str(f, m, key)
		}
		t, err := compileTemplate(src, sp.exp.slots, sp.exp.names)
		if err != nil {
			report(m.line(key), m.field(key), err)
		}
		return t
	}
	sp.id = compile("id", true)
	sp.key = compile("key", true)
	sp.url = compile("url", true)
	sp.sums = compile("checksums", false)
	if pn := m.get("params"); pn != nil {
		pn = resolve(pn)
		if pn.Kind != yaml.MappingNode {
			s.errs.add(f, pn.Line, m.field("params"), "want a mapping, got %s", kindName(pn))
			return false
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(pn.Content); i += 2 {
			k, v := pn.Content[i], resolve(pn.Content[i+1])
			field := join(m.field("params"), k.Value)
			switch {
			case seen[k.Value]:
				s.errs.add(f, k.Line, field, "field given twice")
				continue
			case v.Kind != yaml.ScalarNode:
				// Kinds take strings; JSON-valued params are written as quoted strings.
				s.errs.add(f, v.Line, field, "want a string, got %s (quote JSON values)", kindName(v))
				sound = false
				continue
			}
			seen[k.Value] = true
			t, err := compileTemplate(v.Value, sp.exp.slots, sp.exp.names)
			if err != nil {
				report(v.Line, field, err)
				continue
			}
			sp.param = append(sp.param, paramTemplate{k.Value, t})
		}
	}
	return sound
}

// expandEntries renders every combination into an entry and checks what
// only a rendered entry can show: its ID, key and URLs, and, when the kind
// is a KindValidator (v non-nil), its params. A problem common to many
// entries of one family is reported once with a count of the others.
func expandEntries(sp *familySpec, out []Entry, errs *errList, v KindValidator) {
	f, fam, pos := sp.pos.f, &sp.fam, sp.pos
	// Without a valid domain the key cannot be judged; the domain error
	// is already reported.
	checkKeys := slices.Contains(Domains(), fam.Domain)
	// Only the first of a family's entries with a given problem is reported
	// in full; the rest are counted, so one bad template is one error.
	type repeat struct {
		field string
		line  int
		n     int
	}
	var repeats []*repeat
	report := func(field string, line int, format string, args ...any) {
		for _, r := range repeats {
			if r.field == field {
				r.n++
				return
			}
		}
		repeats = append(repeats, &repeat{field: field, line: line})
		errs.add(f, line, field, format, args...)
	}
	i := 0
	sp.exp.each(func(vals []string) {
		e := &out[i]
		i++
		*e = Entry{
			ID:            sp.id.render(vals),
			Family:        fam.ID,
			Domain:        fam.Domain,
			Kind:          fam.Kind,
			Schedule:      fam.Schedule,
			Key:           sp.key.render(vals),
			URL:           sp.url.render(vals),
			Checksums:     sp.sums.render(vals),
			Meta:          fam.Meta,
			BudgetBytes:   fam.BudgetBytes,
			ContentTypes:  fam.ContentTypes,
			RedirectHosts: fam.RedirectHosts,
			File:          fam.File,
			Line:          fam.Line,
		}
		if len(sp.param) > 0 {
			e.Params = make(map[string]string, len(sp.param))
			for _, p := range sp.param {
				e.Params[p.name] = p.t.render(vals)
			}
		}
		if !validEntryID(e.ID) {
			report(pos.path+".entry.id", pos.idLine, "entry ID %q is not valid (want letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit, at most %d bytes)", e.ID, maxEntryIDLen)
		}
		if checkKeys {
			if msg := checkKey(e.Domain, e.Key); msg != "" {
				report(pos.path+".entry.key", pos.keyLine, "entry %q: %s", e.ID, msg)
			}
		}
		if msg := checkFetchURL(e.URL, fam.AllowHTTP); msg != "" {
			report(pos.path+".entry.url", pos.urlLine, "entry %q: %s", e.ID, msg)
		}
		if e.Checksums != "" {
			if msg := checkFetchURL(e.Checksums, fam.AllowHTTP); msg != "" {
				report(pos.path+".entry.checksums", pos.sumsLine, "entry %q: %s", e.ID, msg)
			}
		}
		if v != nil {
			if err := v.Validate(*e); err != nil {
				report(pos.path+".entry.params", pos.paramsLine, "entry %q: %v", e.ID, err)
			}
		}
	})
	for _, r := range repeats {
		if r.n > 0 {
			errs.add(f, r.line, r.field, "%d more entries of family %q have the same problem", r.n, fam.ID)
		}
	}
}
