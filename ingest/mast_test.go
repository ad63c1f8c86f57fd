package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/mast"
)

// MAST's downloads carry no ETag or Last-Modified. A product whose
// dataURI and size match its record, and whose object is present at that
// size, is unchanged and not fetched; a new size, or --force, fetches it.
func TestMASTWithoutValidators(t *testing.T) {
	em := emulator.NewMAST(emulator.MASTOptions{NoValidators: true})
	em.AddObservation(map[string]any{"obsid": "100", "obs_id": "jw01", "obs_collection": "JWST", "instrument_name": "NIRCAM/IMAGE"},
		emulator.MASTProduct{Filename: "a_cal.fits", Size: 3000}, emulator.MASTProduct{Filename: "b_cal.fits", Size: 4000},
		emulator.MASTProduct{Filename: "c_cal.fits", Size: 5000})
	var files atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/files/") {
			files.Add(1)
		}
		em.ServeHTTP(w, r)
	}))
	defer srv.Close()
	e := sources.Entry{ID: "jw01", Family: "jwst", Domain: "astronomy", Kind: "mast", Key: "jwst/jw01", URL: srv.URL, Schedule: "monthly",
		Params: map[string]string{"service": "Mast.Caom.Filtered", "filters": `[{"paramName":"obs_collection","values":["JWST"]}]`}}
	c := Config{Bucket: mem.New(), Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"mast": mast.New(mast.Options{})},
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Logger: discardLog(), Getenv: func(string) string { return "" }}
	run := func(force bool) *RunRecord {
		files.Store(0)
		c.Force = force
		return mustRun(t, context.Background(), c)
	}
	if rec := run(false); rec.Counts.ObjectsUploaded != 3 || files.Load() != 3 {
		t.Fatalf("first run: %+v, %d file requests", rec.Counts, files.Load())
	}
	if rec := run(false); rec.Counts.ObjectsUnchanged != 3 || files.Load() != 0 {
		t.Fatalf("rerun: %+v, %d file requests; want all unchanged and none", rec.Counts, files.Load())
	}
	em.SetProductData("mast:JWST/product/b_cal.fits", make([]byte, 4100))
	if rec := run(false); rec.Counts.ObjectsUploaded != 1 || rec.Counts.ObjectsUnchanged != 2 || files.Load() != 1 {
		t.Fatalf("after MAST's size changed: %+v, %d file requests", rec.Counts, files.Load())
	}
	if rec := run(true); rec.Counts.ObjectsUploaded != 3 || files.Load() != 3 {
		t.Fatalf("--force: %+v, %d file requests", rec.Counts, files.Load())
	}
}
