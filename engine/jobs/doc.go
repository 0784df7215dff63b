// Package jobs owns the vault's job records: a durable log, one JSON file
// per job (<data dir>/jobs/<id>.json), of every backup, restore and
// verify an agent runs against the vault.
//
// A job has an ID (UTC start time and 32 random bits, so names sort by
// start), the authenticated client, its kind (full, incremental,
// synthetic-full, restore, verify), its state (running, then succeeded,
// failed or partial), start and end, counts of files and bytes seen,
// read, new, sent and stored, dedup and compression ratios, and the
// skipped items with reasons (the first MaxItems listed, all counted).
//
// Invariants:
//
//   - Every write is durable and atomic: a temporary file is fsynced,
//     renamed over the job's file and the directory fsynced, so a crash
//     leaves the previous version of a record or the new one, whole.
//   - Start writes the record before it returns: a job that ran has a
//     record. Finish writes the final state before it returns; a job
//     finishes once.
//   - Running jobs live in memory (Get and List show live progress);
//     Update writes one at most every PersistEvery by the injected clock,
//     so progress costs no fsync per report. A crash loses at most that
//     much progress, never the record.
//   - A job found running by Open belonged to a process that is gone: it
//     is finalised as failed with the reason, never left running.
//   - A succeeded job with skipped items is partial (Finish and Amend
//     apply this rule).
//   - Each client keeps its KeepPerClient finished jobs that ended last;
//     older records are deleted as its jobs finish, and on Open. A running
//     job is never deleted.
//   - No package-level mutable state; time comes from Options.Now.
//
// Testing: jobs_test.go runs the lifecycle (start, updates persisted only
// after PersistEvery of the fake clock, finish, amend, list order),
// reopening after a "crash" with a running job, the item cap, the
// per-client limit (TestKeepPerClient), and
// rejection of damaged files; FuzzDecode fuzzes the file decoder.
package jobs
