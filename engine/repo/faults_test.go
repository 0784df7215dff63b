package repo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"keep/engine/internal/corpus"
	"keep/engine/pack"
	"keep/engine/repo"
	"keep/engine/repo/memfs"
)

// TestFlushReportsLoss: when a pack cannot be written, the Put writing it
// fails and the next Flush reports the loss of blobs accepted before;
// the Flush after that is clean again.
func TestFlushReportsLoss(t *testing.T) {
	tests := []struct {
		name     string
		bundle   int // BundleBelow
		failOp   int // after a's Put: 1 is b's write, 2 the header's (a's bundle's when bundled)
		wantLost string
	}{
		{"blob write fails", -1, 1, "1 accepted blobs were lost"},
		{"header write fails", -1, 2, "2 accepted blobs were lost"},
		{"blob write fails, a bundled", 5000, 1, "1 accepted blobs were lost"},
		{"bundle write fails", 5000, 2, "2 accepted blobs were lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newExtFixture(t)
			m := fx.m
			mfs := memfs.New(1)
			ctx := context.Background()
			r, err := repo.Init(ctx, mfs, m, repo.Options{PackSize: 10 << 10, Packers: 1, BundleBelow: tt.bundle})
			if err != nil {
				t.Fatal(err)
			}
			a := fx.blob(pack.Data, corpus.Random(1, 4000))
			b := fx.blob(pack.Data, corpus.Random(2, 8000)) // fills the pack
			put(t, r, a)
			mfs.FailAfter(tt.failOp, true)
			if _, err := r.Put(ctx, b.t, b.id, b.data); !errors.Is(err, memfs.ErrInjected) {
				t.Fatalf("Put that writes the pack: %v, want the injected error", err)
			}
			if r.Has(a.t, a.id) || r.Has(b.t, b.id) {
				t.Fatal("lost blobs are still reported present")
			}
			if err := r.Flush(ctx); err == nil || !strings.Contains(err.Error(), tt.wantLost) {
				t.Fatalf("Flush after the loss: %v, want %q", err, tt.wantLost)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatalf("second Flush: %v", err)
			}
			put(t, r, a)
			closeRepo(t, r)
			r, err = repo.Open(ctx, mfs, m, repo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer closeRepo(t, r)
			mustGet(t, r, a)
			mustCheck(t, r)
		})
	}
}
