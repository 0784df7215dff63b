// Package gctune sets the garbage collector for Keep's programs.
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GOGC the programs run with unless GOGC is set.
//
// The engine's heap is mostly chunk, bundle and compression buffers, which
// hold no pointers, so a collection costs little however often it runs;
// the default 100 lets the heap grow to twice what is live. Measured on a
// 1.8 GB file-server backup (bench/, 2 cores): peak RSS 143–150 MiB at 100,
// 121 MiB at 50, job time and CPU within the run-to-run noise.
const Percent = 50

// AgentPercent is the GOGC of keep-agent backup: its live heap is
// mostly buffers the pipeline bounds (blobs queued for the vault, chunk
// copies, compressor histories, a directory's nodes), so collecting at
// a quarter over it instead of a half costs little CPU. Measured through
// the vault on the benchmark's corpora (2 cores): peak RSS of the image
// backup 60 -> 52 MiB, of the fs backup 119 -> 106 MiB, CPU within the
// run-to-run noise. Not for a restore, whose garbage is every blob
// received: at 25 the fs restore took 15 s of the agent's CPU against
// 12 at 50 (and 11-13 at 100), the collector freeing the replies' pages
// and the runtime faulting them in again; its peak RSS 39 MiB against 44.
const AgentPercent = 25

// Apply sets the GC percent to Percent unless $GOGC says otherwise.
func Apply() { ApplyPercent(Percent) }

// ApplyPercent sets the GC percent to p unless $GOGC says otherwise.
func ApplyPercent(p int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(p)
	}
}

// VaultLimit is the soft memory limit of a process serving the vault for
// an index of indexBytes and sessions agent connections at once, readers
// of them restoring (or verifying): VaultFloor (one session) plus twice
// the index, which is most of what stays live and grows with the
// repository, plus VaultPerSession for each further session and
// VaultPerReader for each reader, so that several agents at once never
// push the live heap over the limit (where the collector would run
// without end).
//
// The limit makes the collector reclaim a backup's transient buffers
// (request payloads, sealed blobs) before the heap doubles over them.
// Measured on the benchmark's 1.8 GB file-server backup through the vault
// (2 cores, alternated): the vault's peak RSS 143–158 MiB without a limit,
// 107 MiB with 96 MiB, its CPU within the run-to-run noise (GOGC 25
// instead cut it to 121–126 MiB for 20 % more CPU). Since agents send
// payloads the vault stores as they came (no compressor history) and the
// in-flight budget is 8 MiB, one session's live heap is 13–35 MiB; with a
// 36 MiB floor the vault's peak RSS (13 MiB of it the binary's pages) was
// 48–52 MiB on the fs and image backups instead of 53–58 with 48 MiB and
// 55–81 with 96, its CPU within the noise.
func VaultLimit(indexBytes, sessions, readers int) int64 {
	return VaultFloor + 2*int64(indexBytes) + int64(max(sessions-1, 0))*VaultPerSession + int64(max(readers, 0))*VaultPerReader
}

// VaultFloor is VaultLimit for an empty repository and one session.
const VaultFloor = 36 << 20

// VaultPerSession is what a session beyond the first adds to VaultLimit:
// its in-flight request budget (engine/server's MaxInFlight, 8 MiB) and
// the decoded and sealed copies of the bundles it has in hand.
const VaultPerSession = 16 << 20

// VaultPerReader is what a session serving a restore or a verify adds to
// VaultLimit: its workers' replies in flight (blobs read from packs and
// decrypted, then framed) hold 15–30 MiB where a backup's requests hold
// 8. Measured on the benchmark's file-server restore through the vault
// (2 cores, limit set by GOMEMLIMIT, alternated): vault CPU 5.3 s at 48
// MiB, 4.3–4.9 at 56, 4.0–4.6 at 64 (peak RSS 67 MiB), 6.2 at the 36 MiB
// of one backup session, where the collector ran without pause and the
// runtime gave pages back to the kernel only to fault them in again.
const VaultPerReader = 24 << 20

// SetLimit sets the runtime's soft memory limit to n bytes
// (debug.SetMemoryLimit) unless $GOMEMLIMIT is set, and reports whether
// it did.
func SetLimit(n int64) bool {
	if os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetMemoryLimit(n)
	return true
}
