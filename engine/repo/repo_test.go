package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"keep/engine/chunker"
	"keep/engine/internal/corpus"
	"keep/engine/pack"
)

func TestPutGet(t *testing.T) {
	fx := newFixture(t, Options{PackSize: 256 << 10})
	r := fx.init()
	defer closeRepo(t, r)
	max := chunker.FileParams().Max
	tests := []struct {
		name string
		b    blob
	}{
		{"empty data", fx.blob(pack.Data, nil)},
		{"empty tree", fx.blob(pack.Tree, nil)},
		{"one byte", fx.blob(pack.Data, []byte{0})},
		{"text", fx.blob(pack.Data, corpus.Text(1, 100_000))},
		{"random", fx.blob(pack.Data, corpus.Random(1, 1<<20))},
		{"zeros at the limit", fx.blob(pack.Data, make([]byte, max))},
		{"tree", fx.blob(pack.Tree, []byte(`{"entries":[]}`))},
		{"tree at the limit", fx.blob(pack.Tree, corpus.Text(2, MaxTreeSize))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !put(t, r, tt.b) {
				t.Fatal("first Put did not store")
			}
			if put(t, r, tt.b) {
				t.Fatal("second Put stored again")
			}
			if !r.Has(tt.b.t, tt.b.id) {
				t.Fatal("Has = false after Put")
			}
		})
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		mustGet(t, r, tt.b)
		// Get appends to dst.
		got, err := r.Get(context.Background(), tt.b.t, tt.b.id, []byte("dst:"))
		if err != nil || !bytes.Equal(got, append([]byte("dst:"), tt.b.data...)) {
			t.Fatalf("%s: Get with dst: %v", tt.name, err)
		}
	}
	// The same bytes as data and as tree are two blobs.
	d, tr := fx.blob(pack.Data, []byte("same")), fx.blob(pack.Tree, []byte("same"))
	if !put(t, r, d) || !put(t, r, tr) {
		t.Fatal("data and tree blobs of the same bytes were deduplicated")
	}
	rep := mustCheck(t, r)
	if rep.Blobs != len(tests) {
		t.Fatalf("Check verified %d blobs, want %d", rep.Blobs, len(tests))
	}
}

func TestPutRejects(t *testing.T) {
	fx := newFixture(t, Options{})
	r := fx.init()
	defer closeRepo(t, r)
	ctx := context.Background()
	good := fx.blob(pack.Data, []byte("hello"))
	tests := []struct {
		name string
		b    blob
		want error
	}{
		{"wrong id", blob{pack.Data, fx.fp.Sum([]byte("other")), good.data}, ErrIDMismatch},
		{"type 0", blob{0, good.id, good.data}, ErrType},
		{"type 3", blob{3, good.id, good.data}, ErrType},
		{"data too large", fx.blob(pack.Data, make([]byte, chunker.FileParams().Max+1)), ErrTooLarge},
		{"tree too large", fx.blob(pack.Tree, make([]byte, MaxTreeSize+1)), ErrTooLarge},
	}
	for _, tt := range tests {
		stored, err := r.Put(ctx, tt.b.t, tt.b.id, tt.b.data)
		if !errors.Is(err, tt.want) || stored {
			t.Errorf("%s: Put = %v, %v; want %v", tt.name, stored, err, tt.want)
		}
		if r.Has(tt.b.t, tt.b.id) {
			t.Errorf("%s: refused blob is present", tt.name)
		}
	}
	if _, err := r.Get(ctx, pack.Data, good.id, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an absent blob: %v, want ErrNotFound", err)
	}
	if _, err := r.Get(ctx, 7, good.id, nil); !errors.Is(err, ErrType) {
		t.Errorf("Get of type 7: %v, want ErrType", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Get(cancelled, pack.Data, good.id, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
}

func TestPendingUntilFlush(t *testing.T) {
	fx := newFixture(t, Options{})
	r := fx.init()
	defer closeRepo(t, r)
	b := fx.blob(pack.Tree, []byte("small tree"))
	put(t, r, b)
	if _, err := r.Get(context.Background(), b.t, b.id, nil); !errors.Is(err, ErrPending) {
		t.Fatalf("Get before Flush: %v, want ErrPending", err)
	}
	if s := r.Stats(); s.Pending != 1 || s.Blobs != 0 {
		t.Fatalf("Stats before Flush: %+v", s)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustGet(t, r, b)
	if s := r.Stats(); s.Pending != 0 || s.Blobs != 1 || s.Packs != 1 || s.IndexFiles != 1 || s.Unindexed != 0 {
		t.Fatalf("Stats after Flush: %+v", s)
	}
	// A Flush with nothing to do writes nothing.
	if err := r.Flush(context.Background()); err != nil || r.Stats().IndexFiles != 1 {
		t.Fatalf("empty Flush: %v, %d index files", err, r.Stats().IndexFiles)
	}
}

// TestReopen: blobs across many packs and index files survive Close and
// Open; Put fills packs to the target size without a Flush.
func TestReopen(t *testing.T) {
	t.Run("bundled", func(t *testing.T) {
		testReopen(t, Options{PackSize: 64 << 10, autoIndexBlobs: 20, BundleSize: 8 << 10})
	})
	t.Run("alone", func(t *testing.T) { testReopen(t, Options{PackSize: 64 << 10, autoIndexBlobs: 20, BundleBelow: -1}) })
}

func testReopen(t *testing.T, opts Options) {
	fx := newFixture(t, opts)
	r := fx.init()
	var blobs []blob
	for i := range 200 {
		b := fx.blob(pack.Data, corpus.Random(uint64(i), 1000+i*37))
		if i%10 == 0 {
			b = fx.blob(pack.Tree, corpus.Text(uint64(i), 3000))
		}
		blobs = append(blobs, b)
		put(t, r, b)
	}
	s := r.Stats()
	if s.Packs < 5 || s.IndexFiles < 2 {
		t.Fatalf("200 blobs of ~4 KiB in 64 KiB packs: %+v", s)
	}
	closeRepo(t, r)
	r = fx.open()
	defer closeRepo(t, r)
	for _, b := range blobs {
		mustGet(t, r, b)
	}
	if !strings.Contains(fx.log.String(), "repository created") || strings.Contains(fx.log.String(), "[ERROR]") {
		t.Fatalf("log:\n%s", fx.log)
	}
	if r.Config().Chunker.Params() != chunker.FileParams() || r.Config().Version != Version {
		t.Fatalf("config: %+v", r.Config())
	}
	mustCheck(t, r)
}

// TestConcurrentPuts: goroutines put overlapping blobs in different
// orders; each blob is stored exactly once.
func TestConcurrentPuts(t *testing.T) {
	fx := newFixture(t, Options{PackSize: 32 << 10, Packers: 3})
	r := fx.init()
	var blobs []blob
	for i := range 300 {
		blobs = append(blobs, fx.blob(pack.BlobType(1+i%2), corpus.Random(uint64(i), 500+i*11)))
	}
	var stored [8]int
	var wg sync.WaitGroup
	for g := range stored {
		wg.Go(func() {
			order := rand.New(rand.NewPCG(uint64(g), 1)).Perm(len(blobs))
			for i, j := range order {
				ok, err := r.Put(context.Background(), blobs[j].t, blobs[j].id, blobs[j].data)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					stored[g]++
				}
				if i%100 == 50 && g == 0 {
					if err := r.Flush(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range stored {
		total += n
	}
	if total != len(blobs) {
		t.Fatalf("stored %d times for %d blobs", total, len(blobs))
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := mustCheck(t, r)
	if rep.Blobs != len(blobs) || r.Stats().Blobs != len(blobs) {
		t.Fatalf("Check saw %d blobs, index has %d; want %d each", rep.Blobs, r.Stats().Blobs, len(blobs))
	}
	closeRepo(t, r)
	r = fx.open()
	defer closeRepo(t, r)
	for _, b := range blobs {
		mustGet(t, r, b)
	}
}

func TestLockAndReadOnly(t *testing.T) {
	fx := newFixture(t, Options{})
	r := fx.init()
	b := fx.blob(pack.Data, []byte("locked"))
	put(t, r, b)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), fx.fs, fx.m, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	} else if !strings.Contains(err.Error(), fmt.Sprint("pid ")) {
		t.Errorf("ErrLocked does not name the holder: %v", err)
	}
	ro, err := Open(context.Background(), fx.fs, fx.m, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open while locked: %v", err)
	}
	mustGet(t, ro, b)
	if _, err := ro.Put(context.Background(), b.t, b.id, b.data); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Put: %v", err)
	}
	if err := ro.Flush(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Flush: %v", err)
	}
	mustCheck(t, ro)
	closeRepo(t, ro)
	closeRepo(t, r)
	r = fx.open() // the lock is free again
	closeRepo(t, r)
	if err := r.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Put(context.Background(), b.t, b.id, b.data); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := r.Get(context.Background(), b.t, b.id, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

func TestInitAndOpenErrors(t *testing.T) {
	fx := newFixture(t, Options{})
	ctx := context.Background()
	if _, err := Open(ctx, fx.fs, fx.m, Options{}); !errors.Is(err, ErrNotRepo) {
		t.Fatalf("Open of an empty directory: %v, want ErrNotRepo", err)
	}
	if _, err := Init(ctx, fx.fs, fx.m, Options{Chunker: chunker.Params{Min: 1, Avg: 2, Max: 3}}); !errors.Is(err, chunker.ErrParams) {
		t.Fatalf("Init with bad chunker params: %v", err)
	}
	if _, err := Init(ctx, fx.fs, fx.m, Options{PackSize: -1}); err == nil {
		t.Fatal("Init with a negative pack size succeeded")
	}
	// A half-made repository: directories and leftovers, no config.
	for _, d := range []string{dataDir, tmpDir} {
		if err := fx.fs.Mkdir(d); err != nil {
			t.Fatal(err)
		}
	}
	if f, err := fx.fs.Create(tmpDir + "/leftover"); err != nil {
		t.Fatal(err)
	} else {
		_ = f.Close()
	}
	fx.opts.Chunker = chunker.ImageParams()
	r := fx.init()
	closeRepo(t, r)
	if names, _ := fx.fs.ReadDir(tmpDir); len(names) != 0 {
		t.Fatalf("Init left %v in tmp/", names)
	}
	if _, err := Init(ctx, fx.fs, fx.m, Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	if _, err := Open(ctx, fx.fs, newMaster(t), Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	r = fx.open()
	defer closeRepo(t, r)
	if r.Config().Chunker.Params() != chunker.ImageParams() {
		t.Fatalf("chunker params not kept: %+v", r.Config().Chunker)
	}
	// Image params: data blobs are limited to their Max.
	if _, err := r.PutChunk(ctx, fx.fp.Sum(make([]byte, 300<<10)), make([]byte, 300<<10)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("300 KiB chunk with 256 KiB max: %v", err)
	}
}

func TestCancelledPutAndFlush(t *testing.T) {
	// Without bundles: a small data blob would join a bundle without
	// waiting for the packer.
	fx := newFixture(t, Options{Packers: 1, BundleBelow: -1})
	r := fx.init()
	defer closeRepo(t, r)
	held := <-r.packers // a Put in progress holds the only packer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := fx.blob(pack.Data, []byte("waits"))
	if _, err := r.Put(ctx, b.t, b.id, b.data); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v", err)
	}
	if r.Has(b.t, b.id) {
		t.Fatal("cancelled Put left its blob pending")
	}
	if err := r.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush: %v", err)
	}
	r.packers <- held
	put(t, r, b)
}
