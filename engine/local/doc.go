// Package local owns the vault's engine in one directory: the pieces the
// engine packages provide (key file, repository, enrolment CA, job log,
// agent server) opened together, created on first use, the way both the
// appliance's engine service (on the data filesystem) and hosted mode
// (`keep engine --data DIR`) run them.
//
// Layout of the directory (0700):
//
//	key            engine/keys key file: the master key wrapped by the
//	               passphrase and by the recovery key
//	passphrase     the passphrase, when the engine made it (Options gives
//	               none); 0600
//	recovery-key   the recovery key, written once at creation for the
//	               operator to take off the box (RecoveryKey), then removed
//	               (ForgetRecoveryKey); 0600
//	repo/          the repository (engine/repo)
//	ca/            the enrolment CA (engine/enrol)
//	jobs/          the job log (engine/jobs)
//	grants.json    operators' grants of reads of one client's snapshots by
//	               another (restores to another client), with expiry
//
// Invariants:
//
//   - The key file is written durably (temporary file, fsync, rename,
//     directory fsync) before the repository is created, so a repository
//     never exists without the key that opens it; a crash in between
//     leaves a key file and an empty or half-initialised repository, which
//     the next Open initialises again (repo.Init is restartable).
//   - A wrong passphrase is ErrWrongPassphrase and changes nothing.
//   - Only the fingerprint key and the gear seed reach agents (through
//     engine/server); the chunk and metadata keys never leave the vault.
//   - The passphrase and keys are never logged.
package local
