package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"keep/engine/browse"
	"keep/engine/jobs"
)

// downloadBackend serves one download of size bytes that fails after
// failAt of them (failAt ≥ size: succeeds).
type downloadBackend struct {
	fakeBackend
	EngineBackend // nil: other engine calls panic
	size, failAt  int
}

type fakeDownload struct{ b *downloadBackend }

func (d fakeDownload) Name() string       { return "f.bin" }
func (d fakeDownload) Size() uint64       { return uint64(d.b.size) }
func (d fakeDownload) SnapshotID() string { return "ab12" }
func (d fakeDownload) WriteTo(_ context.Context, w io.Writer, _ string) (jobs.Job, error) {
	body := bytes.Repeat([]byte{'x'}, d.b.size)
	if d.b.failAt < d.b.size {
		if _, err := w.Write(body[:d.b.failAt]); err != nil {
			return jobs.Job{}, err
		}
		return jobs.Job{}, errors.New("get chunk 0f: stored data is corrupt")
	}
	_, err := w.Write(body)
	return jobs.Job{}, err
}

func (b *downloadBackend) OpenDownload(context.Context, ListQuery) (Download, error) {
	return fakeDownload{b}, nil
}

// TestDownloadFails: a download that fails before its first byte is an
// error response with the reason; one that fails later is cut short of
// its Content-Length, which Client.Download reports (never a body that
// looks whole); a whole one (and an empty one) succeeds.
func TestDownloadFails(t *testing.T) {
	for _, tc := range []struct {
		size, failAt int
		want         string // in the error; "": none
	}{
		{100 << 10, 0, "stored data is corrupt"},
		{100 << 10, 70 << 10, "cut short after"},
		{100 << 10, 100 << 10, ""},
		{0, 0, ""},
	} {
		b := &downloadBackend{size: tc.size, failAt: tc.failAt}
		c, _ := serve(t, b)
		var got bytes.Buffer
		n, snap, err := c.Download(context.Background(), ListQuery{Snapshot: "latest", Path: "/f.bin"}, &got)
		switch {
		case tc.want == "" && (err != nil || n != int64(tc.size) || got.Len() != tc.size || snap != "ab12"):
			t.Errorf("size %d: %d bytes of %q, %v", tc.size, n, snap, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || int64(got.Len()) > int64(tc.failAt)):
			t.Errorf("size %d failing at %d: %d bytes, %v; want an error with %q", tc.size, tc.failAt, got.Len(), err, tc.want)
		}
	}
}

// countingBackend is downloadBackend counting downloads, with a listing
// of n entries and Find.
type countingBackend struct {
	downloadBackend
	writes  int
	entries int
}

type countingDownload struct{ b *countingBackend }

func (d countingDownload) Name() string       { return "f" }
func (d countingDownload) Size() uint64       { return 5 }
func (d countingDownload) SnapshotID() string { return "ab12" }
func (d countingDownload) WriteTo(_ context.Context, w io.Writer, _ string) (jobs.Job, error) {
	d.b.writes++
	_, err := w.Write([]byte("hello"))
	return jobs.Job{}, err
}

func (b *countingBackend) OpenDownload(context.Context, ListQuery) (Download, error) {
	return countingDownload{b}, nil
}

func (b *countingBackend) List(context.Context, ListQuery) (Listing, error) {
	l := Listing{Path: "big"}
	for i := range b.entries {
		l.Entries = append(l.Entries, browse.JSONEntry{Snapshot: strings.Repeat("ab", 32), Path: "/srv/maildir/cur/" + strconv.Itoa(i) + strings.Repeat("x", 4000), Name: "x", Type: "file"})
	}
	return l, nil
}

func (b *countingBackend) Find(context.Context, FindQuery) (FindResponse, error) {
	return FindResponse{}, nil
}

// TestDownloadHeadAndLimits: a HEAD of a file's content answers its
// headers without reading it (it ran the whole download, recorded as a
// job); find's limit is bounded; a listing larger than a client reads is
// said to be so, not a JSON error.
func TestDownloadHeadAndLimits(t *testing.T) {
	b := &countingBackend{entries: 18000}
	c, tc := serve(t, b)
	resp, err := http.Head(tc.base + "/v1/engine/snapshots/latest/content?path=/f")
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 5 || b.writes != 0 {
		t.Fatalf("HEAD: %v %v, %d downloads run", resp, err, b.writes)
	}
	if _, err := c.Find(context.Background(), FindQuery{Pattern: "*", Limit: MaxFindLimit + 1}); !IsCode(err, CodeBadRequest) {
		t.Fatalf("find over the limit: %v", err)
	}
	if _, err := c.List(context.Background(), ListQuery{Snapshot: "latest"}); err == nil || !strings.Contains(err.Error(), "over 64 MiB") {
		t.Fatalf("a huge listing: %v", err)
	}
}
