package demo

import (
	"fmt"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
)

// ersst: NOAA ERSST v5, one netCDF per month, plain http without checksums
// (NCEI publishes none), so unchanged files are found by conditional GET.
// The n months end in December 2025.
func (b *builder) ersst(n int) {
	last := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	first := last.AddDate(0, -(n - 1), 0)
	var rows [][]string
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		yyyy, mm := fmt.Sprintf("%04d", m.Year()), fmt.Sprintf("%02d", int(m.Month()))
		rows = append(rows, []string{yyyy, mm})
		b.expect(b.gen("/pub/data/cmb/ersst/v5/netcdf/ersst.v5."+yyyy+mm+".nc", 120<<10, 140<<10))
	}
	b.table("noaa-ersst-v5", []string{"yyyy", "mm"}, rows)
}

// era5: ERA5 monthly means through the CDS retrieve API (job submission,
// status polling, results, download), one variable-year per entry and one
// registry family per dataset. The CDS emulator serves one result file per
// dataset, so entries of a dataset share their bytes.
func (b *builder) era5(n int) {
	sets := []struct {
		id, family string
		vars       []string
	}{
		{"reanalysis-era5-single-levels-monthly-means", "era5-sl-monthly", []string{"2m_temperature", "total_precipitation", "mean_sea_level_pressure"}},
		{"reanalysis-era5-land-monthly-means", "era5-land-monthly", []string{"2m_temperature", "total_precipitation"}},
	}
	const licence = "licence-to-use-copernicus-products"
	sizes := make([]int64, len(sets))
	for i, set := range sets {
		sizes[i] = b.size("cds:"+set.id, 600<<10, 1000<<10)
		b.w.CDS.AddDataset(set.id, emulator.CDSDataset{Licences: []string{licence}, Size: sizes[i]})
	}
	b.w.CDS.AcceptLicences(licence)
	rows := make([][][]string, len(sets))
	for i := range n {
		s := i % len(sets)
		k := i / len(sets)
		v := sets[s].vars[k%len(sets[s].vars)]
		year := 2025 - k/len(sets[s].vars)
		rows[s] = append(rows[s], []string{v, fmt.Sprint(year)})
		b.expect(sizes[s])
	}
	for s, set := range sets {
		b.table(set.family, []string{"variable", "year"}, rows[s])
	}
}

// rocke3d: GISS ROCKE-3D run directories behind an nginx autoindex; each
// entry takes the run's *.nc files and leaves its README out.
func (b *builder) rocke3d(n int) {
	var rows [][]string
	for i := range n {
		run := fmt.Sprintf("P%02d_%s", i%36+1, []string{"aqua", "land", "ocean", "snowball"}[i/36%4])
		if i >= 144 {
			run += fmt.Sprintf("_r%d", i/144)
		}
		rows = append(rows, []string{run})
		dir := "/GISS_modelE/ROCKE-3D/publication-supplements/Tsigaridis2025GMD-planet_2.0/" + run + "/"
		for _, d := range []string{"aij", "aijl", "oijl"} {
			b.expect(b.gen(dir+"ANN"+run+"."+d+".nc", 60<<10, 240<<10))
		}
		b.text(dir+"README.txt", "ROCKE-3D run "+run+": annual means of the last 10 model years.\n")
	}
	b.srv.SetListing("/GISS_modelE/", emulator.Nginx)
	b.table("giss-rocke3d-tsigaridis2025", []string{"run"}, rows)
}
