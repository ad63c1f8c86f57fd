package main

import (
	"fmt"
	"io"
)

func us(s sample, n int) float64 { return float64(s.wall.Microseconds()) / float64(n) }

// printTables writes the figures as the README's markdown tables.
func printTables(w io.Writer, o options, rows []row, m *mirrorResult) {
	fmt.Fprintf(w, "\nOne entry of N objects of %d bytes (wall s / µs per object / peak RSS MiB):\n\n", o.objBytes)
	fmt.Fprintln(w, "| objects | bucket | first run | no-op rerun | verify | plan | rclone no-op copy (HEAD each / --http-no-head) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	cell := func(s sample, n int) string {
		return fmt.Sprintf("%.2f s / %.0f µs / %.0f MiB", s.wall.Seconds(), us(s, n), s.mib())
	}
	for _, r := range rows {
		rc := "–"
		if r.rclone != nil {
			rc = fmt.Sprintf("%.2f s / %.2f s (%.0f MiB)", r.rclone.wall.Seconds(), r.rcloneNoHead.wall.Seconds(), r.rclone.mib())
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s |\n", r.objects, r.store,
			cell(r.first, r.objects), cell(r.noop, r.objects), cell(r.verify, r.objects), cell(r.plan, r.objects), rc)
	}
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nA mirror recording %d objects (%d entries of %d, written in %.0f s), file:// on tmpfs:\n\n", m.recorded, m.entries, m.perEntry, m.writeSeconds)
	fmt.Fprintln(w, "| run | wall | peak RSS |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| backfill of one %d-object entry into an empty bucket | %.2f s | %.0f MiB |\n", mirrorEntryObjects, m.intoEmpty.wall.Seconds(), m.intoEmpty.mib())
	fmt.Fprintf(w, "| the same backfill into the mirror | %.2f s | %.0f MiB |\n", m.intoBig.wall.Seconds(), m.intoBig.mib())
	fmt.Fprintf(w, "| verify of the mirror (%d records) | %.2f s | %.0f MiB |\n", m.recorded, m.verify.wall.Seconds(), m.verify.mib())
}
