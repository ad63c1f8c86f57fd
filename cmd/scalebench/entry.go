package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// row is the figures of one entry size on one bucket.
type row struct {
	objects                   int
	store                     string
	first, noop, verify, plan sample
	rclone, rcloneNoHead      *sample // rclone's no-op copy, where run
}

// entryRows runs one entry size on each of its buckets.
func (e *env) entryRows(ctx context.Context, n int) ([]row, error) {
	stores, err := e.stores(ctx, n)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, st := range stores {
		r, err := e.entryRow(ctx, n, st)
		st.stop()
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if n <= e.o.rcloneMax && len(rows) > 0 {
		a, b, err := e.rcloneNoop(ctx, n)
		if err != nil {
			return nil, err
		}
		rows[0].rclone, rows[0].rcloneNoHead = &a, &b
	}
	return rows, nil
}

func (e *env) entryRow(ctx context.Context, n int, st store) (row, error) {
	r := row{objects: n, store: st.name}
	ingest := func(args ...string) (sample, error) {
		if args[0] != "verify" {
			args = append(args, "--registry", e.registry)
		}
		args = append(args, "--bucket", st.url)
		s, err := e.measure(ctx, st.env, e.bin, args...)
		if err == nil && s.code != 0 {
			err = fmt.Errorf("astroingest %v exited %d", args, s.code)
		}
		return s, err
	}
	w := strconv.Itoa(e.o.workers)
	var err error
	steps := []struct {
		name string
		dst  *sample
		args []string
	}{
		{"first run", &r.first, []string{"backfill", "--source", entryID(n), "--workers", w}},
		{"no-op rerun", &r.noop, []string{"backfill", "--source", entryID(n), "--workers", w}},
		{"verify", &r.verify, []string{"verify"}},
		{"plan", &r.plan, []string{"plan", "--backfill", "--source", entryID(n)}},
	}
	for _, s := range steps {
		fmt.Fprintf(e.log, "scalebench:   %s, %s\n", st.name, s.name)
		if *s.dst, err = ingest(s.args...); err != nil {
			return r, err
		}
	}
	return r, nil
}

// rcloneNoop copies the listing with rclone into a local folder, then
// times the copy again with nothing changed: with rclone's default HEAD
// per file, and with --http-no-head.
func (e *env) rcloneNoop(ctx context.Context, n int) (sample, sample, error) {
	dst := filepath.Join(e.scratch, fmt.Sprintf("rclone-%d", n))
	defer os.RemoveAll(dst)
	w := strconv.Itoa(e.o.workers)
	args := func(extra ...string) []string {
		return append([]string{"copy", ":http:", dst, "--http-url", e.src.URL() + entryPath(n),
			"--transfers", w, "--checkers", w}, extra...)
	}
	fmt.Fprintf(e.log, "scalebench:   rclone copy, then its no-op rerun\n")
	if _, err := e.measure(ctx, nil, e.o.rclone, args()...); err != nil {
		return sample{}, sample{}, err
	}
	a, err := e.measure(ctx, nil, e.o.rclone, args()...)
	if err != nil {
		return a, sample{}, err
	}
	b, err := e.measure(ctx, nil, e.o.rclone, args("--http-no-head")...)
	return a, b, err
}
