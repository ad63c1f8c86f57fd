package main

import (
	"fmt"
	"strconv"

	"github.com/astroingest/astroingest/ingest"
)

// leaseHelp ends the help of the commands that take the bucket's lease
// (run, backfill): what busy means and how a lease is taken over.
const leaseHelp = `
Leases: a run takes the bucket's write lease (annotations/leases/) before it
writes anything. While another live run holds it, the run exits 4 (busy:
nothing written, retry later). A lease whose holder is gone is taken over
at once, with a warning, and the holder's unfinished uploads are aborted:
one that expired (--lease-ttl after its last renewal); in Kubernetes, one
of the previous pod of the same Job index or of the CronJob's previous Job
(JOB_NAME, JOB_UID, JOB_COMPLETION_INDEX and CRONJOB_NAME, which the deploy
manifests set); elsewhere, one whose holder you name with --break-lease.
A run that loses its lease stops, writes nothing more and exits 1 (reason
lease_lost).

Exit codes: 0 ok, 1 entries failed or the lease was lost, 2 bad usage or
configuration (nothing written), 3 interrupted, 4 busy.
`

// workloadFromEnv is the run's Kubernetes Job, as the deploy manifests pass
// it through the downward API (deploy/): JOB_NAME and JOB_UID from the pod
// labels batch.kubernetes.io/job-name and batch.kubernetes.io/controller-uid,
// JOB_COMPLETION_INDEX from the Indexed Job, CRONJOB_NAME set by the
// CronJob's pod template. It is nil without JOB_NAME: a run outside
// Kubernetes.
//
// The values are a promise the lease relies on: a lease that records the
// same Job and index, or the same CronJob and another Job, is taken over at
// once as the lease of a pod that has ended (podReplacementPolicy: Failed,
// concurrencyPolicy: Forbid). Set them by hand only where that holds.
func workloadFromEnv(getenv func(string) string) (*ingest.Workload, error) {
	job := getenv("JOB_NAME")
	if job == "" {
		return nil, nil
	}
	w := &ingest.Workload{Job: job, JobUID: getenv("JOB_UID"), CronJob: getenv("CRONJOB_NAME"), Index: -1}
	if v := getenv("JOB_COMPLETION_INDEX"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return nil, fmt.Errorf("JOB_COMPLETION_INDEX %q: want a non-negative integer", v)
		}
		w.Index = i
	}
	return w, nil
}
