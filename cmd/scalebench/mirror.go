package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	fsbucket "github.com/astroingest/astroingest/bucket/fs"
	"github.com/astroingest/astroingest/ingest/annotations"
)

// mirrorResult is the big-mirror figures.
type mirrorResult struct {
	recorded           int
	intoEmpty, intoBig sample
	verify             sample
	entries, perEntry  int
	writeSeconds       float64
}

// mirrorRun writes the big mirror, then measures the one-entry backfill
// into an empty bucket and into it, and a verify of it.
func (e *env) mirrorRun(ctx context.Context) (*mirrorResult, error) {
	m := &mirrorResult{recorded: e.o.mirror, perEntry: annotations.PartRecords}
	m.entries = max(1, e.o.mirror/m.perEntry)
	dir := filepath.Join(e.scratch, "mirror")
	start := time.Now()
	if err := writeMirror(ctx, dir, m.entries, m.perEntry); err != nil {
		return nil, err
	}
	m.writeSeconds = time.Since(start).Seconds()
	backfill := func(url string) (sample, error) {
		return e.measure(ctx, nil, e.bin, "backfill", "--source", entryID(mirrorEntryObjects), "--workers", fmt.Sprint(e.o.workers),
			"--registry", e.registry, "--bucket", url)
	}
	var err error
	fmt.Fprintf(e.log, "scalebench:   backfill into an empty bucket\n")
	if m.intoEmpty, err = backfill("file://" + filepath.Join(e.scratch, "empty")); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.log, "scalebench:   backfill into the mirror\n")
	if m.intoBig, err = backfill("file://" + dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.log, "scalebench:   verify of the mirror\n")
	// The synthetic records have no data behind them: verify reads every
	// record and reports each missing (exit 1), which is the work.
	if m.verify, err = e.measure(ctx, nil, e.bin, "verify", "--bucket", "file://"+dir); err != nil {
		return nil, err
	}
	return m, nil
}

// writeMirror records entries × perEntry objects through the format's own
// writer: a head and its parts per entry, and the catalog.
func writeMirror(ctx context.Context, dir string, entries, perEntry int) error {
	b, err := fsbucket.New(dir)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	sum := strings.Repeat("ab", 32)
	rows := make([]annotations.CatalogEntry, 0, entries)
	for i := range entries {
		id := fmt.Sprintf("mirror-%05d", i)
		w := annotations.NewPartWriter(b, annotations.EntryPartsPrefix(id)+"synthetic-", nil)
		for j := range perEntry {
			rec := annotations.Record{Key: fmt.Sprintf("astronomy/mirror/%s/f%07d.fits", id, j), SourceURL: fmt.Sprintf("https://archive.example/%s/f%07d.fits", id, j),
				Size: 2880, SHA256: sum, RetrievedAt: now, RunID: "synthetic"}
			if err := w.Add(ctx, rec, false); err != nil {
				return err
			}
		}
		parts, err := w.Close(ctx)
		if err != nil {
			return err
		}
		h := &annotations.Head{Meta: annotations.Meta{ID: id, Family: "mirror", Domain: "astronomy", Title: "Synthetic " + id, Provider: "scalebench", License: "CC0", Citation: "scalebench"},
			CheckedAt: now, UpdatedAt: now, RunID: "synthetic", Parts: parts}
		for _, p := range parts {
			h.Objects += p.Objects
			h.Bytes += p.Bytes
		}
		if _, err := annotations.WriteHead(ctx, b, annotations.HeadKey(id), h); err != nil {
			return err
		}
		rows = append(rows, annotations.EntryOf(h, nil))
	}
	_, err = annotations.UpdateCatalog(ctx, b, now, rows)
	return err
}
