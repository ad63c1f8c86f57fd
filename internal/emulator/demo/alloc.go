package demo

// family is one builder of the demo world. Scalable families share what
// --entries leaves by weight; fixed ones always have the same entries.
type family struct {
	name   string
	weight int // 0: fixed
	fixed  int
	// min is the fewest entries a scalable family can have (default 1):
	// each registry family needs at least one row in its table.
	min   int
	build func(b *builder, n int)
}

var families = []family{
	{name: "ersst", weight: 30, build: (*builder).ersst},
	{name: "gaia-source", weight: 24, build: (*builder).gaiaSource},
	{name: "phoenix", weight: 14, build: (*builder).phoenix},
	// Two registry families, one per CDS dataset.
	{name: "era5", weight: 6, min: 2, build: (*builder).era5},
	{name: "rocke3d", weight: 4, build: (*builder).rocke3d},
	{name: "uniprot-proteomes", weight: 5, build: (*builder).uniprotProteomes},
	{name: "kepler", weight: 6, build: (*builder).kepler},
	{name: "jwst", weight: 3, build: (*builder).jwst},
	{name: "eso-muse", weight: 2, build: (*builder).esoMUSE},
	{name: "eso-spectra", weight: 4, build: (*builder).esoSpectra},
	{name: "gem", weight: 2, build: (*builder).gem},
	{name: "ncbi-refseq", fixed: 4, build: (*builder).ncbiRefseq},
	{name: "ncbi-taxonomy", fixed: 3, build: (*builder).ncbiTaxonomy},
	{name: "uniprot-release", fixed: 2, build: (*builder).uniprotRelease},
	{name: "gaia-ap", fixed: 1, build: (*builder).gaiaAP},
	{name: "gaia-spectra", fixed: 3, build: (*builder).gaiaSpectra},
	{name: "phoenix-wave", fixed: 1, build: (*builder).phoenixWave},
	{name: "tess", fixed: 2, build: (*builder).tess},
}

func (f family) least() int {
	if f.weight == 0 {
		return f.fixed
	}
	return max(f.min, 1)
}

// MinEntries is the smallest registry that still has every family (so
// every kind, manifest format and listing style) at least once.
func MinEntries() int {
	n := 0
	for _, f := range families {
		n += f.least()
	}
	return n
}

// allocate gives each family its number of entries, summing to total
// (MinEntries to MaxEntries).
func allocate(total int) []int {
	counts := make([]int, len(families))
	rest, weights, scalable := total, 0, 0
	for i, f := range families {
		if f.weight == 0 {
			counts[i] = f.fixed
			rest -= f.fixed
		} else {
			weights += f.weight
			scalable++
		}
	}
	// Every scalable family gets one entry, then a share of the rest by
	// weight; rounding leftovers go to the first, heaviest family.
	extra, given := rest-scalable, 0
	for i, f := range families {
		if f.weight > 0 {
			share := extra * f.weight / weights
			counts[i] = 1 + share
			given += share
		}
	}
	counts[0] += extra - given
	// A family short of its minimum (only in small demos) takes the
	// missing entries from the first family, which has them: the sizes of
	// the default demo do not depend on this.
	for i, f := range families {
		if need := f.least() - counts[i]; f.weight > 0 && need > 0 {
			counts[i] += need
			counts[0] -= need
		}
	}
	return counts
}
