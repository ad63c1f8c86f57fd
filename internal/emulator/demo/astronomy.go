package demo

import (
	"fmt"
	"strconv"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
)

// gaiaRanges are contiguous HEALPix ranges like GaiaSource_000000-003111.
func (b *builder) gaiaRanges(table string, n int) []string {
	var out []string
	start := 0
	for i := range n {
		end := start + 1000 + int(b.h(table, fmt.Sprint(i))%3000)
		out = append(out, fmt.Sprintf("%06d-%06d", start, end))
		start = end + 1
	}
	return out
}

// gaiaSource: single bulk files (http kind) checked against the folder's
// _MD5SUM.txt; the range list is a table file of the registry, as the real one.
func (b *builder) gaiaSource(n int) {
	ranges := b.gaiaRanges("gaia_source", n)
	for _, r := range ranges {
		b.expect(b.gen("/Gaia/gdr3/gaia_source/GaiaSource_"+r+".csv.gz", 200<<10, 400<<10))
	}
	b.srv.AddChecksumFile("/Gaia/gdr3/gaia_source/_MD5SUM.txt", emulator.MD5Sum)
	b.table("gaia-dr3-gaia-source", []string{"range"}, column(ranges))
}

// gaiaAP: a whole folder named by its _MD5SUM.txt (manifest md5sum).
func (b *builder) gaiaAP(int) {
	dir := "/Gaia/gdr3/Astrophysical_parameters/astrophysical_parameters/"
	for _, r := range b.gaiaRanges("astrophysical_parameters", 6) {
		b.expect(b.gen(dir+"AstrophysicalParameters_"+r+".csv.gz", 200<<10, 400<<10))
	}
	b.srv.AddChecksumFile(dir+"_MD5SUM.txt", emulator.MD5Sum)
}

// kepler: per-target light curve folders in an S3 bucket (like STScI's
// public bucket), listed with ListObjectsV2 in small pages; only the long
// cadence _llc.fits files are taken.
func (b *builder) kepler(n int) {
	var rows [][]string
	quarters := []string{"2009131105131", "2009166043257", "2009259160929", "2009350155506", "2010078095331"}
	for i := range n {
		kic := fmt.Sprintf("%09d", 757076+i*9973)
		rows = append(rows, []string{kic[:4], kic})
		dir := "/stpubdata/kepler/public/lightcurves/" + kic[:4] + "/" + kic + "/"
		for q := range 1 + int(b.h("kepler", kic)%4) + 1 {
			b.expect(b.gen(dir+"kplr"+kic+"-"+quarters[q]+"_llc.fits", 40<<10, 100<<10))
			b.gen(dir+"kplr"+kic+"-"+quarters[q]+"_lpd-targ.fits.gz", 20<<10, 50<<10) // excluded
		}
	}
	b.srv.SetListing("/stpubdata/", emulator.S3)
	b.srv.SetS3PageSize(4)
	b.table("kepler-target-lightcurves", []string{"prefix", "kic"}, rows)
}

// jwst: MAST Portal queries per program; products other than calibrated
// level-3 SCIENCE files, exclusive-access and HST observations are left out
// by the entry's filters. MAST products live in memory, so they stay small.
func (b *builder) jwst(n int) {
	known := []string{"1345", "2736", "1366", "1324", "1727", "1895", "2107", "1536", "1802", "1290"}
	var rows [][]string
	obsid := 87600000
	for i := range n {
		prog := fmt.Sprint(3000 + i*7)
		if i < len(known) {
			prog = known[i]
		}
		pn, _ := strconv.Atoi(prog)
		rows = append(rows, []string{prog})
		for o := range 3 {
			obsid++
			rights := "PUBLIC"
			if o == 2 {
				rights = "EXCLUSIVE_ACCESS"
			}
			obsID := fmt.Sprintf("jw%05d-o%03d_t%03d_nircam_clear-f%03dw", pn, o+1, 20+o, 150+50*o)
			cal := fmt.Sprintf("jw%05d%03d001_02101_00001_nrca1_cal.fits", pn, o+1)
			products := []emulator.MASTProduct{
				{Filename: obsID + "_i2d.fits", Size: b.size(obsID+"_i2d", 150<<10, 300<<10), Fields: map[string]any{"productType": "SCIENCE", "calib_level": 3, "productSubGroupDescription": "I2D"}},
				{Filename: obsID + "_cat.ecsv", Size: b.size(obsID+"_cat", 4<<10, 16<<10), Fields: map[string]any{"productType": "AUXILIARY", "calib_level": 3, "productSubGroupDescription": "CAT"}},
				{Filename: obsID + "_i2d.jpg", Size: b.size(obsID+"_jpg", 4<<10, 12<<10), Fields: map[string]any{"productType": "PREVIEW", "calib_level": 3, "productSubGroupDescription": "I2D"}},
				{Filename: cal, Size: b.size(cal, 8<<10, 24<<10), Fields: map[string]any{"productType": "SCIENCE", "calib_level": 2, "productSubGroupDescription": "CAL"}},
			}
			b.w.MAST.AddObservation(map[string]any{
				"obsid": fmt.Sprint(obsid), "obs_id": obsID, "obs_collection": "JWST", "proposal_id": prog,
				"instrument_name": "NIRCAM/IMAGE", "dataRights": rights, "target_name": fmt.Sprintf("FIELD-%s-%d", prog, o+1),
			}, products...)
			if rights == "PUBLIC" {
				b.expect(products[0].Size)
			}
		}
		obsid++
		b.w.MAST.AddObservation(map[string]any{
			"obsid": fmt.Sprint(obsid), "obs_id": "hst_" + prog + "_01_wfc3_ir_f160w", "obs_collection": "HST", "proposal_id": prog,
			"instrument_name": "WFC3/IR", "dataRights": "PUBLIC", "target_name": "FIELD-" + prog,
		}, emulator.MASTProduct{Filename: "hst_" + prog + "_01_wfc3_ir_f160w_drz.fits", Size: 8 << 10, Fields: map[string]any{"productType": "SCIENCE", "calib_level": 3}})
	}
	b.table("jwst-programs", []string{"program"}, rows)
}

// tess: MAST's per-sector bulk download scripts (curl lines into the
// Download/file API), mirrored with the manifest kind's curl_script format.
func (b *builder) tess(n int) {
	var rows [][]string
	for s := 1; s <= n; s++ {
		rows = append(rows, []string{fmt.Sprint(s)})
		var files []emulator.ScriptFile
		var products []emulator.MASTProduct
		for k := range 8 {
			tic := 8195886 + s*100003 + k*7717
			name := fmt.Sprintf("tess2018206045859-s%04d-%016d-0120-s_lc.fits", s, tic)
			size := b.size(name, 24<<10, 64<<10)
			products = append(products, emulator.MASTProduct{Filename: name, Size: size, Fields: map[string]any{"productType": "SCIENCE", "calib_level": 2}})
			b.expect(size)
			// MAST's scripts write ".../Download/file/?uri="; the MAST
			// emulator answers the form without the slash.
			files = append(files, emulator.ScriptFile{Name: name, URL: b.base + "/mast/api/v0.1/Download/file?uri=mast:TESS/product/" + name})
		}
		b.w.MAST.AddObservation(map[string]any{
			"obsid": fmt.Sprint(90000000 + s), "obs_id": fmt.Sprintf("tess-s%04d-lc", s), "obs_collection": "TESS",
			"proposal_id": "N/A", "instrument_name": "Photometer", "dataRights": "PUBLIC",
		}, products...)
		b.srv.AddScript(fmt.Sprintf("/missions/tess/download_scripts/sector/tesscurl_sector_%d_lc.sh", s), emulator.CurlScript, files)
	}
	b.table("tess-sector-lightcurves", []string{"sector"}, rows)
}

// mjd is the Modified Julian Date of 1 January of year.
func mjd(year int) int {
	return int(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

// esoProducts adds ObsCore rows (and their files) for one instrument-year.
func (b *builder) esoProducts(inst, ptype string, year, count int, lo, hi int64) {
	for k := range count {
		day := int(b.h(inst, fmt.Sprint(year), fmt.Sprint(k)) % 360)
		t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day).Add(time.Duration(b.h("t", inst, fmt.Sprint(year, k))%86_400_000) * time.Millisecond)
		dp := "ADP." + t.Format("2006-01-02T15:04:05.000")
		for b.esoIDs[dp] {
			t = t.Add(time.Millisecond)
			dp = "ADP." + t.Format("2006-01-02T15:04:05.000")
		}
		if b.esoIDs == nil {
			b.esoIDs = map[string]bool{}
		}
		b.esoIDs[dp] = true
		size := b.gen("/dataPortal/file/"+dp, lo, hi)
		b.expect(size)
		tmin := float64(mjd(year)+day) + float64(t.Hour())/24
		b.tapRows = append(b.tapRows, []string{dp, "{files}/" + dp, inst, ptype, fmt.Sprintf("%.5f", tmin), fmt.Sprint(size / 1000)})
	}
}

// esoMUSE: ESO Phase 3 cubes through TAP, one ADQL query per year.
func (b *builder) esoMUSE(n int) {
	var rows [][]string
	for i := range n {
		year := 2015 + i
		rows = append(rows, []string{fmt.Sprint(year), fmt.Sprint(mjd(year)), fmt.Sprint(mjd(year + 1))})
		b.esoProducts("MUSE", "cube", year, 2, 500<<10, 1500<<10)
	}
	b.table("eso-muse-cubes", []string{"year", "mjd0", "mjd1"}, rows)
}
