package sources

// Stats counts a registry's entries. Its JSON form is part of the CLI
// contract (`sources stats --json`):
// {"total":N,"by_domain":{...},"by_family":{...},"by_provider":{...}}.
// by_domain always lists every domain, with 0 for an empty one, so
// dashboards see a stable set of keys.
type Stats struct {
	Total      int            `json:"total"`
	ByDomain   map[string]int `json:"by_domain"`
	ByFamily   map[string]int `json:"by_family"`
	ByProvider map[string]int `json:"by_provider"`
}

// CountEntries counts the given entries, e.g. a filtered selection.
func CountEntries(entries []Entry) Stats {
	st := Stats{
		Total:      len(entries),
		ByDomain:   make(map[string]int, len(Domains())),
		ByFamily:   map[string]int{},
		ByProvider: map[string]int{},
	}
	for _, d := range Domains() {
		st.ByDomain[d] = 0
	}
	for _, e := range entries {
		st.ByDomain[e.Domain]++
		st.ByFamily[e.Family]++
		st.ByProvider[e.Meta.Provider]++
	}
	return st
}

// Stats counts the registry's entries.
func (r *Registry) Stats() Stats { return CountEntries(r.Entries) }
