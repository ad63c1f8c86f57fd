// Package ingest is the engine: it plans a run (selection, shard, schedule,
// the last manifests), fetches every due entry through a per-run worker
// pool with per-host politeness, streams each object through its hashes
// into the bucket, commits only what verifies, and writes a manifest per
// entry, a run record and the catalog. It depends only on the bucket and
// sources interfaces.
//
// Guarantees:
//   - An object is committed only after its size and the publisher's
//     checksum (when given) match; a mismatch aborts the staged bytes and
//     is retried once from scratch, then fails with checksum_mismatch or
//     size_mismatch. The previous object and its record stay in place.
//     When the response's length is exact and the publisher gives an md5,
//     the bucket enforces both itself (bucket.PutOptions Size and
//     ContentMD5: the S3 store refuses a body whose Content-MD5 differs,
//     cut short or not) and may write the object through during Put, so
//     it is not held in memory; nothing else is checked between Put and
//     Commit then. Without an md5 the object is staged and checked here,
//     since a store may keep a body cut short (versitygw does).
//   - A manifest names only committed objects. When an entry is only
//     partly refreshed (a failure or an interruption after some objects
//     committed) its manifest is rewritten to describe the bucket exactly,
//     with checked_at zero so that the entry stays due.
//   - Unchanged objects cost no download: the listing's checksum, ETag or
//     Last-Modified is compared with the record, else the request is made
//     conditional (If-None-Match / If-Modified-Since), and the bucket copy
//     must be present with the recorded size.
//   - Failures never stop other entries. Cancellation is never a failure:
//     in-flight uploads are aborted, finished entries are recorded and the
//     run record is still written.
//   - Runs whose entries may overlap never write at once: every run first
//     takes the bucket's write lease (BucketLeaseKey), so a nightly run, a
//     backfill of one domain and runs with other shard counts refuse each
//     other. Only the shards of one job (same mode, selection, shard count
//     and job token, as the pods of one Indexed Job) share it; each also
//     holds a lease on its shard, so a second pod of the same index is
//     refused.
//   - After a kill -9 the dead run's leases expire; the next run takes
//     them over and aborts the unfinished uploads begun before their
//     expiry under its own entries' keys, which only the dead holder (or
//     an earlier dead run) can have written. Leftovers elsewhere are
//     aborted once they are older than StaleGrace.
//   - Byte budgets end a run cleanly: what did not fit is listed under
//     "skipped" with reason budget_exceeded and is not a failure, like
//     rclone's --max-transfer with --cutoff-mode=soft. Gated hosts are
//     skipped the same way.
package ingest
