package events_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"keep/appliance/clock"
	"keep/appliance/events"
)

func syncJournal(t *testing.T, j *events.Journal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func kinds(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func TestAttachWritesMemoryThenAppendsAndHistorySpansBoots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")

	// Boot A: two events before storage exists, one after.
	a := events.NewJournal(events.Options{Boot: "A", Clock: clock.NewFake(epoch)})
	a.Emit(events.Event{Kind: "boot.start"})
	a.Emit(events.Event{Kind: "raid.assembled"})
	if _, err := a.AttachFile(path); err != nil {
		t.Fatal(err)
	}
	a.Emit(events.Event{Severity: events.Warning, Kind: "raid.degraded"})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Emit(events.Event{Kind: "after.close"}) // memory only

	// Boot B reads A's history and adds its own.
	b := events.NewJournal(events.Options{Boot: "B", Clock: clock.NewFake(epoch.Add(time.Hour))})
	b.Emit(events.Event{Kind: "boot.start"})
	if _, err := b.AttachFile(path); err != nil {
		t.Fatal(err)
	}
	syncJournal(t, b)
	hist, rep, err := b.History(events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"boot.start", "raid.assembled", "journal.attached", "raid.degraded",
		"boot.start", "journal.attached"}
	if got := kinds(hist); !slices.Equal(got, want) {
		t.Fatalf("history kinds = %v, want %v", got, want)
	}
	if rep.Corrupt != 0 || rep.Torn {
		t.Errorf("clean file reported %+v", rep)
	}
	if hist[0].Boot != "A" || hist[4].Boot != "B" || hist[4].Seq != 1 {
		t.Errorf("boots/seqs wrong: %+v / %+v", hist[0], hist[4])
	}
	onlyA, _, _ := b.History(events.Filter{Boot: "A", MinSeverity: events.Warning})
	if got := kinds(onlyA); !slices.Equal(got, []string{"raid.degraded"}) {
		t.Errorf("boot A warnings = %v", got)
	}
	if st := b.Stats(); st.Persisted != 2 || st.File != path || st.PersistError != "" {
		t.Errorf("Stats = %+v", st)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	offline, _, err := events.ReadHistory(path, events.Filter{Kind: "boot."})
	if err != nil || len(offline) != 2 {
		t.Errorf("ReadHistory = %d events, %v", len(offline), err)
	}
}

func TestAttachCutsTornTailAndReportsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	good := `{"seq":1,"boot":"A","time":"2026-01-01T00:00:00Z","severity":"info","source":"s","kind":"k.one","message":""}` + "\n"
	torn := `{"seq":2,"boot":"A","time":"2026-01-01T00:00:01Z","sever`
	if err := os.WriteFile(path, []byte(good+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	j := events.NewJournal(events.Options{Boot: "B", Clock: clock.NewFake(epoch)})
	rep, err := j.AttachFile(path)
	if err != nil {
		t.Fatalf("torn tail must not be fatal: %v", err)
	}
	if rep.TornBytes != int64(len(torn)) {
		t.Errorf("TornBytes = %d, want %d", rep.TornBytes, len(torn))
	}
	if got := j.Query(events.Filter{Kind: "journal.torn_tail"}); len(got) != 1 || got[0].Severity != events.Warning {
		t.Errorf("torn tail not reported as an event: %+v", got)
	}
	syncJournal(t, j)
	hist, hrep, err := j.History(events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if hrep.Torn || hrep.Corrupt != 0 {
		t.Errorf("after repair, history reports %+v", hrep)
	}
	if got := kinds(hist); !slices.Equal(got, []string{"k.one", "journal.attached", "journal.torn_tail"}) {
		t.Errorf("history = %v", got)
	}
	_ = j.Close()
}

func TestAttachKeepsValidUnterminatedLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	line := `{"seq":7,"boot":"A","time":"2026-01-01T00:00:00Z","severity":"error","source":"s","kind":"k.last","message":""}`
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	j := events.NewJournal(events.Options{Boot: "B", Clock: clock.NewFake(epoch)})
	rep, err := j.AttachFile(path)
	if err != nil || rep.TornBytes != 0 {
		t.Fatalf("AttachFile = %+v, %v", rep, err)
	}
	syncJournal(t, j)
	hist, _, _ := j.History(events.Filter{})
	if got := kinds(hist); !slices.Equal(got, []string{"k.last", "journal.attached"}) {
		t.Errorf("history = %v", got)
	}
	_ = j.Close()
}

func TestHistorySkipsAndCountsCorruptLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	content := strings.Join([]string{
		`{"seq":1,"time":"2026-01-01T00:00:00Z","severity":"info","source":"s","kind":"k.a","message":""}`,
		`garbage`,
		`{"seq":2,"time":"2026-01-01T00:00:00Z","severity":"loud","source":"s","kind":"k.b","message":""}`,
		``,
		`{"seq":3,"time":"2026-01-01T00:00:00Z","severity":"info","source":"s","kind":"k.c","message":""}`,
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	hist, rep, err := events.ReadHistory(path, events.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(hist); !slices.Equal(got, []string{"k.a", "k.c"}) {
		t.Errorf("kinds = %v", got)
	}
	if rep.Corrupt != 2 || rep.FirstCorruptLine != 2 || rep.Events != 2 {
		t.Errorf("report = %+v", rep)
	}
}

func TestAttachAfterOverflowCountsLostEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j := events.NewJournal(events.Options{Capacity: 4, Boot: "A", Clock: clock.NewFake(epoch)})
	for i := 0; i < 6; i++ {
		j.Emit(events.Event{Kind: "early"})
	}
	if _, err := j.AttachFile(path); err != nil {
		t.Fatal(err)
	}
	syncJournal(t, j)
	st := j.Stats()
	// Seqs 1-2 were gone before storage existed; AttachFile wrote 3..6
	// before emitting journal.attached (7).
	if st.PersistDropped != 2 || st.Persisted != 7 {
		t.Errorf("Stats = %+v, want PersistDropped 2, Persisted 7", st)
	}
	_ = j.Close()
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j := events.NewJournal(events.Options{Boot: "A", MaxFileBytes: 600, Clock: clock.NewFake(epoch)})
	if _, err := j.AttachFile(path); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		j.Emit(events.Event{Kind: "test.tick", Message: strings.Repeat("x", 50)})
		syncJournal(t, j)
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotated file: %v", err)
	}
	hist, rep, err := j.History(events.Filter{Kind: "test."})
	if err != nil || rep.Torn || rep.Corrupt != 0 {
		t.Fatalf("History: %v %+v", err, rep)
	}
	// Only the newest files are kept; what is kept is contiguous and ends at the last event.
	if len(hist) == 0 || hist[len(hist)-1].Seq != 21 {
		t.Fatalf("history ends at %v", seqs(hist))
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Seq != hist[i-1].Seq+1 {
			t.Fatalf("gap in rotated history: %v", seqs(hist))
		}
	}
	_ = j.Close()
}

func TestStorageErrors(t *testing.T) {
	dir := t.TempDir()
	j := events.NewJournal(events.Options{Clock: clock.NewFake(epoch)})
	if _, _, err := j.History(events.Filter{}); !errors.Is(err, events.ErrNoStorage) {
		t.Errorf("History without storage: %v", err)
	}
	if err := j.Sync(context.Background()); !errors.Is(err, events.ErrNoStorage) {
		t.Errorf("Sync without storage: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Errorf("Close without storage: %v", err)
	}
	if _, err := j.AttachFile(filepath.Join(dir, "missing", "events.jsonl")); err == nil {
		t.Error("AttachFile in a missing directory succeeded")
	}
	if _, err := j.AttachFile(filepath.Join(dir, "events.jsonl")); err != nil {
		t.Fatal(err)
	}
	if _, err := j.AttachFile(filepath.Join(dir, "other.jsonl")); !errors.Is(err, events.ErrAttached) {
		t.Errorf("second AttachFile: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := j.Sync(context.Background()); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
}

func TestOversizedEventIsStoredTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j := events.NewJournal(events.Options{Boot: "A", Clock: clock.NewFake(epoch)})
	if _, err := j.AttachFile(path); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("\x01", events.MaxLineBytes) // escapes to 6x on disk
	j.Emit(events.Event{Kind: "test.huge", Message: huge, Fields: map[string]string{"k": huge}})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	hist, rep, err := events.ReadHistory(path, events.Filter{Kind: "test."})
	if err != nil || rep.Corrupt != 0 || len(hist) != 1 {
		t.Fatalf("history = %d events, %+v, %v", len(hist), rep, err)
	}
	if e := hist[0]; len(e.Message) != 4096 || e.Fields["truncated"] != "true" || len(e.Fields) != 1 {
		t.Errorf("stored event: message %d bytes, fields %v", len(e.Message), e.Fields)
	}
	if got := j.Query(events.Filter{Kind: "test."}); len(got[0].Message) != len(huge) {
		t.Error("memory copy was truncated too")
	}
}

func TestAttachFailsCleanlyWhenTheBacklogCannotBeWritten(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test writes to /dev/full, which every Linux has: %v", err)
	}
	j := events.NewJournal(events.Options{Clock: clock.NewFake(epoch)})
	j.Emit(events.Event{Kind: "boot.start"})
	if _, err := j.AttachFile("/dev/full"); err == nil {
		t.Fatal("AttachFile on a full device succeeded")
	}
	if st := j.Stats(); st.File != "" {
		t.Errorf("storage attached after failure: %+v", st)
	}
	if _, _, err := j.History(events.Filter{}); !errors.Is(err, events.ErrNoStorage) {
		t.Errorf("History = %v", err)
	}
}
