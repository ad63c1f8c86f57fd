package ingest

import "time"

// Failure is one entry that did not finish, with its reason (one of
// sources.Reasons()) and a redacted sentence saying what happened.
type Failure struct {
	Entry  string `json:"entry"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// RunCounts tallies a run. Only the outcome sink (outcomes) changes it.
type RunCounts struct {
	Selected         int `json:"selected"`
	Fresh            int `json:"fresh"` // not due by schedule, not touched
	Done             int `json:"done"`  // at least one object uploaded
	Unchanged        int `json:"unchanged"`
	Failed           int `json:"failed"`
	Skipped          int `json:"skipped"`    // budget or gate; not failures
	Unfinished       int `json:"unfinished"` // not reached or cut by an interruption
	Partial          int `json:"partial"`    // mirrored, but without names that cannot be keys
	ObjectsUploaded  int `json:"objects_uploaded"`
	ObjectsUnchanged int `json:"objects_unchanged"`
	ObjectsFailed    int `json:"objects_failed"`
}

// RunRecord is annotations/runs/<run-id>.json and the --json summary. Run
// returns it once the run is over; it is not shared with anything still
// running then.
type RunRecord struct {
	RunID           string    `json:"run_id"`
	Mode            Mode      `json:"mode"`
	Selection       Selection `json:"selection"`
	Shard           Shard     `json:"shard"`
	Force           bool      `json:"force,omitempty"`
	Holder          string    `json:"holder"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`
	Interrupted     bool      `json:"interrupted"`
	BudgetReached   bool      `json:"budget_reached,omitempty"`
	Counts          RunCounts `json:"counts"`
	Bytes           int64     `json:"bytes"`
	EstimatedBytes  int64     `json:"estimated_bytes"`
	Failures        []Failure `json:"failures"`
	Skipped         []Failure `json:"skipped,omitempty"`
	Partial         []Failure `json:"partial,omitempty"`
	RecordKey       string    `json:"record_key"`
	CatalogEntries  int       `json:"catalog_entries"`
}
