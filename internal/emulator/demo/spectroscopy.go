package demo

import (
	"fmt"
	"strings"

	"github.com/astroingest/astroingest/internal/emulator"
)

// esoSpectra: ESO Phase 3 1D spectra through TAP, per instrument-year.
func (b *builder) esoSpectra(n int) {
	insts := []string{"UVES", "HARPS", "FEROS", "XSHOOTER", "ESPRESSO", "NIRPS"}
	var rows [][]string
	for i := range n {
		inst := insts[i%len(insts)]
		year := 2024 - i/len(insts)
		rows = append(rows, []string{inst, strings.ToLower(inst), fmt.Sprint(year), fmt.Sprint(mjd(year)), fmt.Sprint(mjd(year + 1))})
		b.esoProducts(inst, "spectrum", year, 3, 40<<10, 160<<10)
	}
	b.table("eso-spectra", []string{"instrument", "inst", "year", "mjd0", "mjd1"}, rows)
}

// phoenix: the HiResFITS grid behind Apache's fancy index, one metallicity
// folder and Teff per entry; each Teff has a run of log g values (the
// real grid has gaps, so entries take whatever files exist).
func (b *builder) phoenix(n int) {
	zdirs := []struct{ dir, id, z string }{
		{"Z-0.0", "m0.0", "-0.0"}, {"Z-0.5", "m0.5", "-0.5"}, {"Z+0.5", "p0.5", "+0.5"}, {"Z-1.0", "m1.0", "-1.0"},
		{"Z-1.5", "m1.5", "-1.5"}, {"Z-2.0", "m2.0", "-2.0"}, {"Z-3.0", "m3.0", "-3.0"}, {"Z-4.0", "m4.0", "-4.0"}, {"Z+1.0", "p1.0", "+1.0"},
	}
	var rows [][]string
	for i := range n {
		z := zdirs[i%len(zdirs)]
		teff := fmt.Sprintf("%05d", 2300+100*(i/len(zdirs)))
		rows = append(rows, []string{z.dir, z.id, teff})
		first := int(b.h("logg", z.dir, teff) % 6)
		count := 3 + int(b.h("nlogg", z.dir, teff)%3)
		for g := first; g < first+count; g++ {
			name := fmt.Sprintf("lte%s-%.2f%s.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits", teff, float64(g)*0.5+1, z.z)
			b.expect(b.gen("/data/HiResFITS/PHOENIX-ACES-AGSS-COND-2011/"+z.dir+"/"+name, 100<<10, 160<<10))
		}
	}
	b.table("phoenix-aces-hires", []string{"zdir", "zid", "teff"}, rows)
}

// phoenixWave: one file whose sha256 the registry states literally.
func (b *builder) phoenixWave(int) {
	p := "/data/HiResFITS/WAVE_PHOENIX-ACES-AGSS-COND-2011.fits"
	b.expect(b.gen(p, 900<<10, 1100<<10))
	b.table("phoenix-aces-hires-wavelength", []string{"sha256"}, [][]string{{b.srv.SHA256(p)}})
}

// gaiaSpectra: the XP and RVS mean spectra folders, each by its _MD5SUM.txt.
func (b *builder) gaiaSpectra(n int) {
	rows := [][]string{
		{"xp-continuous", "xp_continuous_mean_spectrum", "XpContinuousMeanSpectrum"},
		{"xp-sampled", "xp_sampled_mean_spectrum", "XpSampledMeanSpectrum"},
		{"rvs", "rvs_mean_spectrum", "RvsMeanSpectrum"},
	}[:n]
	for _, r := range rows {
		dir := "/Gaia/gdr3/Spectroscopy/" + r[1] + "/"
		for _, rg := range b.gaiaRanges(r[1], 4) {
			b.expect(b.gen(dir+r[2]+"_"+rg+".csv.gz", 200<<10, 400<<10))
		}
		b.srv.AddChecksumFile(dir+"_MD5SUM.txt", emulator.MD5Sum)
	}
	b.table("gaia-dr3-spectra", []string{"name", "folder", "stem"}, rows)
}
