package remote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/backup"
)

// BenchmarkRemoteBackup backs up generated data (compressible, 32 MiB in
// 1 MiB files) through a Store over TLS on loopback into a repository in
// a temp dir (fsyncs included): "new" sends everything, "dedup" backs up
// the same data again (only HaveQueries), and "local" runs backup.Run on
// the vault's repository directly, the same work without the network, for
// comparison. MB/s is of data backed up.
func BenchmarkRemoteBackup(b *testing.B) {
	const total = 32 << 20
	for _, mode := range []string{"new", "dedup", "local"} {
		b.Run(mode, func(b *testing.B) {
			v := newVault(b)
			c := v.dial(b, v.enrolAgent(b, "bench"), Options{})
			ctx := context.Background()
			gen := func(seed int) string {
				dir := filepath.Join(b.TempDir(), "src")
				must(b, os.Mkdir(dir, 0o755))
				for i := range total >> 20 {
					must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), pseudo(uint64(seed<<16+i), 1<<20), 0o644))
				}
				return dir
			}
			src := gen(0)
			if mode == "dedup" {
				benchBackup(b, ctx, c, src)
			}
			b.SetBytes(total)
			b.ResetTimer()
			for i := range b.N {
				if mode != "dedup" && i > 0 {
					b.StopTimer()
					src = gen(i)
					b.StartTimer()
				}
				if mode == "local" {
					_, err := backup.Run(ctx, v.repo, []string{src}, backup.Options{Hostname: "bench"})
					must(b, err)
					continue
				}
				benchBackup(b, ctx, c, src)
			}
		})
	}
}

func benchBackup(b *testing.B, ctx context.Context, c *Client, src string) {
	st, err := c.NewStore(ctx, Job{Hostname: "bench", Paths: []string{src}})
	must(b, err)
	res, err := backup.Run(ctx, st, []string{src}, backup.Options{Hostname: "bench"})
	must(b, err)
	must(b, st.Finish(ctx, res, nil))
}
