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
// the Flush after that is clean again. A bundled blob is not in any pack
// until its bundle is sealed (by the Flush here), so the loss of the pack
// b fills does not take it along.
func TestFlushReportsLoss(t *testing.T) {
	tests := []struct {
		name      string
		bundle    int // BundleBelow
		failOp    int // after a's Put: 1 is b's write, 2 the header's
		wantLost  string
		aSurvives bool
	}{
		{"blob write fails", -1, 1, "1 accepted blobs were lost", false},
		{"header write fails", -1, 2, "2 accepted blobs were lost", false},
		// Only b, whose Put failed, is lost: nothing accepted was.
		{"blob write fails, a bundled", 5000, 1, "", true},
		{"header write fails, a bundled", 5000, 2, "", true},
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
			if r.Has(a.t, a.id) != tt.aSurvives || r.Has(b.t, b.id) {
				t.Fatalf("after the loss: a present %v (want %v), b present %v", r.Has(a.t, a.id), tt.aSurvives, r.Has(b.t, b.id))
			}
			if err := r.Flush(ctx); (err == nil) != (tt.wantLost == "") || err != nil && !strings.Contains(err.Error(), tt.wantLost) {
				t.Fatalf("Flush after the loss: %v, want %q", err, tt.wantLost)
			}
			if tt.aSurvives {
				mustGet(t, r, a)
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

// TestBundleWriteLost: when the pack a bundle is sealed into cannot be
// written, the Flush that sealed it reports its members lost, they are no
// longer present, and putting them again stores them.
func TestBundleWriteLost(t *testing.T) {
	for failOp := 1; failOp <= 2; failOp++ { // the bundle's write, the header's
		fx := newExtFixture(t)
		mfs := memfs.New(1)
		ctx := context.Background()
		r, err := repo.Init(ctx, mfs, fx.m, repo.Options{Packers: 1, BundleBelow: 5000})
		if err != nil {
			t.Fatal(err)
		}
		a := fx.blob(pack.Data, corpus.Random(1, 4000))
		c := fx.blob(pack.Data, corpus.Random(3, 3000))
		put(t, r, a)
		put(t, r, c)
		mfs.FailAfter(failOp, true)
		if err := r.Flush(ctx); err == nil || !strings.Contains(err.Error(), "2 accepted blobs were lost") {
			t.Fatalf("fail op %d: Flush: %v, want 2 blobs lost", failOp, err)
		}
		if r.Has(a.t, a.id) || r.Has(c.t, c.id) {
			t.Fatalf("fail op %d: lost bundle members still present", failOp)
		}
		put(t, r, a)
		put(t, r, c)
		if err := r.Flush(ctx); err != nil {
			t.Fatalf("fail op %d: Flush after putting again: %v", failOp, err)
		}
		mustGet(t, r, a)
		mustGet(t, r, c)
		mustCheck(t, r)
		closeRepo(t, r)
	}
}
