package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type meta struct {
	Workers       int       `json:"workers"`
	PartSizeMiB   int       `json:"part_size_mib"`
	PartsInFlight int       `json:"parts_in_flight"`
	Runs          int       `json:"runs"`
	Started       time.Time `json:"started"`
	RcloneVersion string    `json:"rclone_version"`
	AWSVersion    string    `json:"aws_version,omitempty"` // the read side's second peer, where installed
	GatewayBinary string    `json:"versitygw"`
	Link          string    `json:"link"` // loopback, or the toxiproxy WAN link
}

// results holds every sample by workload and tool ("astroingest",
// "rclone", and for the limit line "source" and "bucket"), in round order
// so that pairs can be compared round by round.
type results struct {
	Meta     meta                           `json:"meta"`
	Samples  map[string]map[string][]sample `json:"samples"`
	Commands map[string]map[string]string   `json:"commands"`
	order    []string
}

func newResults() *results {
	return &results{Samples: map[string]map[string][]sample{}, Commands: map[string]map[string]string{}}
}

func (r *results) add(workload, tool string, s sample) {
	if r.Samples[workload] == nil {
		r.Samples[workload] = map[string][]sample{}
		r.order = append(r.order, workload)
	}
	r.Samples[workload][tool] = append(r.Samples[workload][tool], s)
}

func (r *results) command(workload, tool, cmd string) {
	if r.Commands[workload] == nil {
		r.Commands[workload] = map[string]string{}
	}
	r.Commands[workload][tool] = cmd
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func med(ss []sample, f func(sample) float64) float64 {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	return median(xs)
}

// pairMedian is the median over rounds of f(a[i], b[i]).
func pairMedian(a, b []sample, f func(a, b sample) float64) float64 {
	var xs []float64
	for i := range min(len(a), len(b)) {
		xs = append(xs, f(a[i], b[i]))
	}
	return median(xs)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func rssMiB(s sample) float64 { return float64(s.MaxRSS) / mib }

// rssBound is the memory goal: 64 MiB plus, per worker, the part buffers
// one Put may hold (parts in flight + the one being read).
func rssBound(e *env) float64 {
	return 64 + float64(e.workers*(e.concurrency+1))*float64(e.partSize)/mib
}

func (r *results) report(w io.Writer, e *env) {
	fmt.Fprintf(w, "\n# astrobench: astroingest vs %s, %d workers, %d MiB parts x %d in flight, %d rounds (medians), %s\n\n",
		r.Meta.RcloneVersion, r.Meta.Workers, r.Meta.PartSizeMiB, r.Meta.PartsInFlight, r.Meta.Runs, r.Meta.Link)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tastroingest MiB/s\trclone MiB/s\tratio\tlimit MiB/s\tof limit\tastroingest wall s\trclone wall s\tCPU s/GiB ai|rc\tpeak RSS MiB ai|rc")
	var goals []string
	for _, wl := range r.order {
		ss := r.Samples[wl]
		ai, rc := ss["astroingest"], ss["rclone"]
		if len(ai) == 0 {
			continue
		}
		cells := []string{wl}
		transfer := ai[0].Bytes > 0
		if transfer {
			cells = append(cells, f1(med(ai, sample.mibps)))
		} else {
			cells = append(cells, "-")
		}
		ratio, frac := math.NaN(), math.NaN()
		if len(rc) > 0 && transfer {
			ratio = pairMedian(ai, rc, func(a, b sample) float64 { return a.mibps() / b.mibps() })
			cells = append(cells, f1(med(rc, sample.mibps)), f2(ratio)+"x")
		} else if len(rc) > 0 {
			// Reruns move nothing: compare wall times (rclone/astroingest).
			ratio = pairMedian(ai, rc, func(a, b sample) float64 { return b.Wall / a.Wall })
			cells = append(cells, "-", f2(ratio)+"x faster")
		} else {
			cells = append(cells, "-", "-")
		}
		if src, bkt := ss["source"], ss["bucket"]; len(src) == 0 && len(bkt) > 0 {
			// The read side has no source: the bucket alone is the line.
			frac = pairMedian(ai, bkt, func(a, l sample) float64 { return a.mibps() / l.mibps() })
			cells = append(cells, fmt.Sprintf("%s (bucket alone)", f1(med(bkt, sample.mibps))), pct(frac))
		} else if len(src) > 0 && len(bkt) > 0 {
			lim := make([]sample, len(src))
			for i := range src {
				lim[i] = src[i]
				if i < len(bkt) && bkt[i].mibps() < src[i].mibps() {
					lim[i] = bkt[i]
				}
			}
			frac = pairMedian(ai, lim, func(a, l sample) float64 { return a.mibps() / l.mibps() })
			cells = append(cells, fmt.Sprintf("%s (src %s, bkt %s)", f1(med(lim, sample.mibps)), f1(med(src, sample.mibps)), f1(med(bkt, sample.mibps))), pct(frac))
		} else {
			cells = append(cells, "-", "-")
		}
		cells = append(cells, f2(med(ai, func(s sample) float64 { return s.Wall })))
		if len(rc) > 0 {
			cells = append(cells, f2(med(rc, func(s sample) float64 { return s.Wall })))
		} else {
			cells = append(cells, "-")
		}
		if transfer {
			c := f2(med(ai, sample.cpuPerGiB))
			if len(rc) > 0 {
				c += " | " + f2(med(rc, sample.cpuPerGiB))
			}
			cells = append(cells, c)
		} else {
			cells = append(cells, "-")
		}
		m := f1(med(ai, rssMiB))
		if len(rc) > 0 {
			m += " | " + f1(med(rc, rssMiB))
		}
		cells = append(cells, m)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		goals = append(goals, r.goals(wl, ai, ratio, frac, e)...)
	}
	tw.Flush()
	r.reportPeers(w)
	if len(goals) > 0 {
		fmt.Fprintln(w, "\nGoals:")
		for _, g := range goals {
			fmt.Fprintln(w, "  "+g)
		}
	}
	fmt.Fprintln(w, "\nCommands (BUCKET is a fresh bucket per run; credentials and endpoint come from AWS_* / RCLONE_CONFIG_BENCHS3_* env):")
	for _, wl := range r.order {
		for _, tool := range []string{"astroingest", "rclone", "aws"} {
			if c := r.Commands[wl][tool]; c != "" {
				fmt.Fprintf(w, "  %s/%s: %s\n", wl, tool, c)
			}
		}
	}
}

func (r *results) goals(wl string, ai []sample, ratio, frac float64, e *env) []string {
	var out []string
	check := func(name string, ok bool, got, want string) {
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		out = append(out, fmt.Sprintf("%-22s %-44s %s (got %s, goal %s)", wl, name, verdict, got, want))
	}
	rss := med(ai, rssMiB)
	bound := rssBound(e)
	switch wl {
	case "small":
		check("throughput vs rclone", ratio >= 2, f2(ratio)+"x", ">= 2x")
	case "mixed", "large":
		check("throughput vs rclone", ratio >= 1.2, f2(ratio)+"x", ">= 1.2x")
		check("fraction of the limit line", frac >= 0.7, pct(frac), ">= 70%")
	case "noop-backfill-rerun", "noop-run-nothing-due":
		wall := med(ai, func(s sample) float64 { return s.Wall })
		check("wall time", wall < 5, f2(wall)+" s", "< 5 s")
	case "pull-small", "pull-large", "pull-rerun":
		pullGoals(check, wl, ratio, frac, rss)
		return out
	case "plan", "sources-stats":
		wall := med(ai, func(s sample) float64 { return s.Wall })
		check("wall time", wall < 1, f2(wall)+" s", "< 1 s")
		check("peak RSS", rss < 200, f1(rss)+" MiB", "< 200 MiB")
		return out
	}
	if ai[0].Bytes > 0 {
		check("peak RSS", rss <= bound, f1(rss)+" MiB", fmt.Sprintf("<= %.0f MiB", bound))
	}
	return out
}

// pullGoals are the read side's: at least 1.5x rclone (the rerun 3x
// faster), few large at 85% of the bucket alone while verifying sha256,
// and 128 MiB of peak RSS for any workload.
func pullGoals(check func(name string, ok bool, got, want string), wl string, ratio, frac, rss float64) {
	switch wl {
	case "pull-rerun":
		check("wall time vs rclone's rerun", ratio >= 3, f2(ratio)+"x faster", ">= 3x faster")
	default:
		check("throughput vs rclone", ratio >= 1.5, f2(ratio)+"x", ">= 1.5x")
	}
	if wl == "pull-large" {
		check("fraction of the bucket alone", frac >= 0.85, pct(frac), ">= 85%")
	}
	check("peak RSS", rss <= 128, f1(rss)+" MiB", "<= 128 MiB")
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string { return fmt.Sprintf("%.2f", x) }
func pct(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", x*100)
}
