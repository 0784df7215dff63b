package main

import (
	"fmt"
	"sort"
	"strings"
)

type summaryRow struct {
	Tool    string  `json:"tool"`
	B1S     float64 `json:"backup1_s"`
	B1MBs   float64 `json:"backup1_mb_s"`
	B1CPU   float64 `json:"backup1_cpu_s"`
	B1RSS   float64 `json:"backup1_rss_mib"`
	Repo1   float64 `json:"repo1_mib"`
	IncS    float64 `json:"incr_s"`
	IncCPU  float64 `json:"incr_cpu_s"`
	Repo2   float64 `json:"repo2_mib"`
	Growth  float64 `json:"growth_mib"`
	RestS   float64 `json:"restore_s"`
	RestMBs float64 `json:"restore_mb_s"`
	RestCPU float64 `json:"restore_cpu_s"`
	MaxRSS  float64 `json:"max_rss_mib"` // over backup1, backup2, restore
	// Bytes over 127.0.0.1 (keep-agent): what a network between agent
	// and vault would carry, MiB.
	B1Wire     float64 `json:"backup1_wire_mib,omitempty"`
	IncWire    float64 `json:"incr_wire_mib,omitempty"`
	RestWire   float64 `json:"restore_wire_mib,omitempty"`
	Gen1Bytes  int64   `json:"gen1_bytes"`
	Gen2Bytes  int64   `json:"gen2_bytes"`
	isKeep     bool
	excludeKDF bool
}

type ratioRow struct {
	Metric string  `json:"metric"`
	Keep   string  `json:"keep"` // which keep row
	Value  float64 `json:"keep_value"`
	Peer   string  `json:"peer"`
	PeerV  float64 `json:"peer_value"`
	Ratio  float64 `json:"ratio"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

func corporaOrder() []string {
	var out []string
	for _, c := range []string{"fs", "vm"} {
		if _, ok := res.Corpora[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// med returns the median over repetitions of f applied to the step.
func med(c, t, name string, f func(step) float64) float64 {
	var xs []float64
	for _, s := range res.Steps {
		if s.Corpus == c && s.Tool == t && s.Step == name {
			xs = append(xs, f(s))
		}
	}
	return median(xs)
}

func summarize(tools []tool) {
	res.Summary = map[string][]summaryRow{}
	res.Ratios = map[string][]ratioRow{}
	for _, c := range corporaOrder() {
		var rows []summaryRow
		for _, t := range tools {
			variants := []bool{false}
			if isKeepTool(t.name) && t.name != "keep-agent" {
				// keepbench unlocks a key file in every command; the
				// vault of keep-agent unlocks once, untimed.
				variants = []bool{false, true}
			}
			for _, exKDF := range variants {
				wall := func(s step) float64 {
					if exKDF {
						return s.WallS - s.KDFS
					}
					return s.WallS
				}
				cpu := func(s step) float64 {
					if exKDF {
						return s.CPUS - s.KDFCPUS
					}
					return s.CPUS
				}
				rss := func(s step) float64 {
					if exKDF {
						return float64(s.RSSEngineKiB) / 1024
					}
					return float64(s.RSSKiB) / 1024
				}
				repo := func(s step) float64 { return mib(s.RepoBytes) }
				in := func(s step) float64 { return float64(s.InputBytes) }
				r := summaryRow{Tool: t.name, isKeep: isKeepTool(t.name), excludeKDF: exKDF}
				if exKDF {
					r.Tool = t.name + " (excl. KDF)"
				}
				r.Gen1Bytes = int64(med(c, t.name, "backup1", in))
				r.Gen2Bytes = int64(med(c, t.name, "backup2", in))
				r.B1S = med(c, t.name, "backup1", wall)
				r.B1MBs = float64(r.Gen1Bytes) / 1e6 / r.B1S
				r.B1CPU = med(c, t.name, "backup1", cpu)
				r.B1RSS = med(c, t.name, "backup1", rss)
				r.Repo1 = med(c, t.name, "backup1", repo)
				r.IncS = med(c, t.name, "backup2", wall)
				r.IncCPU = med(c, t.name, "backup2", cpu)
				r.Repo2 = med(c, t.name, "backup2", repo)
				r.Growth = r.Repo2 - r.Repo1
				r.RestS = med(c, t.name, "restore", wall)
				r.RestMBs = float64(r.Gen2Bytes) / 1e6 / r.RestS
				r.RestCPU = med(c, t.name, "restore", cpu)
				r.MaxRSS = max(r.B1RSS, med(c, t.name, "backup2", rss), med(c, t.name, "restore", rss))
				wire := func(s step) float64 { return mib(s.WireBytes) }
				r.B1Wire, r.IncWire, r.RestWire = med(c, t.name, "backup1", wire), med(c, t.name, "backup2", wire), med(c, t.name, "restore", wire)
				rows = append(rows, r)
			}
		}
		res.Summary[c] = rows
		res.Ratios[c] = ratios(c, rows)
	}
}

// isKeepTool reports whether a tool is keep (or keep-base).
func isKeepTool(name string) bool { return strings.HasPrefix(name, "keep") }

func ratios(c string, rows []summaryRow) []ratioRow {
	var peers []summaryRow
	var restic *summaryRow
	for i, r := range rows {
		if !r.isKeep {
			peers = append(peers, r)
			if r.Tool == "restic" {
				restic = &rows[i]
			}
		}
	}
	if len(peers) == 0 {
		return nil
	}
	best := func(f func(summaryRow) float64, higher bool) summaryRow {
		b := peers[0]
		for _, p := range peers[1:] {
			if (higher && f(p) > f(b)) || (!higher && f(p) < f(b)) {
				b = p
			}
		}
		return b
	}
	var out []ratioRow
	for _, k := range rows {
		if !k.isKeep {
			continue
		}
		add := func(metric string, kv float64, p summaryRow, pv, ratio float64, target string, met bool) {
			out = append(out, ratioRow{Metric: metric, Keep: k.Tool, Value: kv, Peer: p.Tool, PeerV: pv, Ratio: ratio, Target: target, Met: met})
		}
		p := best(func(r summaryRow) float64 { return r.B1MBs }, true)
		add("backup1 throughput MB/s (keep / fastest peer)", k.B1MBs, p, p.B1MBs, k.B1MBs/p.B1MBs, "≥ 2", k.B1MBs/p.B1MBs >= 2)
		p = best(func(r summaryRow) float64 { return r.IncS }, false)
		add("incremental s (fastest peer / keep)", k.IncS, p, p.IncS, p.IncS/k.IncS, "> 1", k.IncS < p.IncS)
		p = best(func(r summaryRow) float64 { return r.RestMBs }, true)
		add("restore throughput MB/s (keep / fastest peer)", k.RestMBs, p, p.RestMBs, k.RestMBs/p.RestMBs, "≥ 2", k.RestMBs/p.RestMBs >= 2)
		p = best(func(r summaryRow) float64 { return r.Repo2 }, false)
		add("repo MiB after both backups (keep / smallest peer)", k.Repo2, p, p.Repo2, k.Repo2/p.Repo2, "≤ 1", k.Repo2 <= p.Repo2)
		if restic != nil {
			add("peak RSS MiB, max of all steps (keep / restic)", k.MaxRSS, *restic, restic.MaxRSS, k.MaxRSS/restic.MaxRSS, "≤ 1", k.MaxRSS <= restic.MaxRSS)
		}
		if c == "vm" {
			if ch, ok := res.Changes[c].(map[string]any); ok {
				var written int64
				switch v := ch["change"].(type) {
				case interface{ Written() int64 }:
					written = v.Written()
				default:
					written = writtenOf(v)
				}
				if written > 0 {
					wm := mib(written)
					pb := best(func(r summaryRow) float64 { return r.Growth }, false)
					add("image incremental growth / bytes written (keep; peer = least growth)", k.Growth/wm, pb, pb.Growth/wm, k.Growth/wm, "≤ 4", k.Growth/wm <= 4)
				}
			}
		}
	}
	return out
}

func writtenOf(v any) int64 {
	s := fmt.Sprintf("%+v", v)
	if i := strings.Index(s, "BytesWritten:"); i >= 0 {
		var n int64
		fmt.Sscanf(s[i+len("BytesWritten:"):], "%d", &n)
		return n
	}
	return 0
}

func markdown(tools []tool) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Backup benchmark %s\n\n", res.Started.Format("2006-01-02 15:04 MST"))
	w("Machine: %s, %s CPUs, %s, kernel %s, %s, work on %s. keep built from: %s.\n", res.Machine["cpu"], res.Machine["nproc"], res.Machine["mem"], res.Machine["kernel"], res.Machine["go"], res.Machine["work_fs"], res.Params["keep_source"])
	w("Load average (1 min) before timed steps: %.2f – %.2f. Repetitions: %s (medians). Seed %s.\n\n", res.LoadRange[0], res.LoadRange[1], res.Params["reps"], res.Params["seed"])
	var tv []string
	for _, t := range tools {
		tv = append(tv, fmt.Sprintf("%s: %s", t.name, res.Tools[t.name]))
	}
	w("Tools: %s.\n", strings.Join(tv, "; "))
	w("Encryption on for all: restic default (repo v2, compression auto), borg repokey (lz4 default), keep AES-256-GCM with its default Argon2id key file.\n\n")
	for _, c := range corporaOrder() {
		info := res.Corpora[c]
		rows := res.Summary[c]
		if len(rows) == 0 {
			continue
		}
		g1, g2 := rows[0].Gen1Bytes, rows[0].Gen2Bytes
		if c == "fs" {
			w("## File-server corpus (gen1 %.0f MiB in %d files + %d symlinks, gen2 %.0f MiB)\n\n", mib(g1), info.Files, info.Symlinks, mib(g2))
		} else {
			w("## Disk-image corpus (%.0f MiB each generation)\n\n%s. gen2 write sizes 4 KiB·2^k, P(k) ∝ 2^(−%s·k).\n\n", mib(g1), info.Layout, res.Params["vm_write_skew"])
		}
		if ch, ok := res.Changes[c].(map[string]any); ok {
			w("gen2 change: %s\n\n", strings.TrimPrefix(fmt.Sprintf("%+v", ch["change"]), "&"))
		}
		w("| tool | backup1 s | MB/s | CPU s | RSS MiB | repo MiB | incr. s | incr. CPU s | growth MiB | restore s | restore MB/s | restore CPU s | max RSS MiB |\n")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			w("| %s | %.1f | %.0f | %.1f | %.0f | %.0f | %.2f | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f |\n",
				r.Tool, r.B1S, r.B1MBs, r.B1CPU, r.B1RSS, r.Repo1, r.IncS, r.IncCPU, r.Growth, r.RestS, r.RestMBs, r.RestCPU, r.MaxRSS)
		}
		w("\nkeep unlocks its key file (Argon2id, 256 MiB) in every command, as the CLIs of the peers do theirs; \"keep (excl. KDF)\" subtracts that unlock's wall and CPU time and reports the job's own peak RSS, which is what a vault unlocked once at boot would pay.\n")
		w("keep-agent is the product path: keep-agent against keep engine (started per job, unlocked once, untimed) over TLS on 127.0.0.1, both on this machine's cores; its CPU is the agent's plus the vault's during the step, its RSS the sum of their peaks.\n")
		for _, r := range rows {
			if r.B1Wire > 0 {
				w("%s's traffic over 127.0.0.1 (what a network between agent and vault carries, TLS both ways): backup1 %.0f MiB for %.0f MiB of input, incremental %.1f MiB, restore %.0f MiB for %.0f MiB restored.\n",
					r.Tool, r.B1Wire, mib(r.Gen1Bytes), r.IncWire, r.RestWire, mib(r.Gen2Bytes))
			}
		}
		w("\n")
		w("| metric (%s) | keep row | keep | best peer | peer | ratio | §7 target | met |\n|---|---|---|---|---|---|---|---|\n", c)
		for _, r := range res.Ratios[c] {
			met := "no"
			if r.Met {
				met = "yes"
			}
			w("| %s | %s | %.2f | %s | %.2f | %.2f | %s | %s |\n", r.Metric, r.Keep, r.Value, r.Peer, r.PeerV, r.Ratio, r.Target, met)
		}
		w("\n")
	}
	w("All restores matched gen2 (entries, types, modes, symlink targets, contents):\n\n")
	keys := make([]string, 0, len(res.Compare))
	for k := range res.Compare {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := res.Compare[k]
		w("- %s: %d entries, %.0f MiB compared, %d problems, %d file mtimes differ\n", k, d.Entries, mib(d.Bytes), d.Problems, d.MtimeMismatch)
	}
	return b.String()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
