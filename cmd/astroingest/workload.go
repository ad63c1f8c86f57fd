package main

import (
	"fmt"
	"strconv"

	"github.com/astroingest/astroingest/ingest"
)

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
