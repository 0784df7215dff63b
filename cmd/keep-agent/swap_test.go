package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"keep/engine/backup"
)

// The tests below play the user who owns the directories a restore (as
// root, on a server) writes into, and who swaps a directory for a symlink
// to one of root's while the restore runs. The restore must go on writing
// where it was writing, never through the link.

// swapForLink renames dir away (to dir+".moved") and puts a symlink to
// victim in its place.
func swapForLink(t *testing.T, dir, victim string) {
	t.Helper()
	must(t, os.Rename(dir, dir+".moved"))
	must(t, os.Symlink(victim, dir))
}

// TestStagingSwapped: the staging directory, made in the user's
// directory, is swapped for a symlink before the restore writes into it.
func TestStagingSwapped(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.MkdirAll(filepath.Join(src, "www"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "www", "index.html"), []byte("page"), 0o644))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	must(t, os.RemoveAll(filepath.Join(src, "www")))

	victim := t.TempDir() // root's /etc
	swapped := 0
	rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: overwriteNever}
	rs.staged = func(stage string) {
		swapped++
		swapForLink(t, stage, victim)
	}
	must(t, rs.inPlace([]string{"src"}))
	if swapped != 1 || len(rs.res.Failed) != 0 {
		t.Fatalf("swapped %d staging directories (want 1), failed %+v", swapped, rs.res.Failed)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("restored through the swapped staging directory into %s: %v", victim, ents)
	}
	if b, err := os.ReadFile(filepath.Join(src, "www", "index.html")); err != nil || string(b) != "page" {
		t.Fatalf("www/index.html: %q %v", b, err)
	}
}

// TestMergeDirSwapped: a directory being merged into (it exists in the
// destination and in the snapshot) is swapped for a symlink once the
// merge has opened it: what goes into it goes into the directory itself.
func TestMergeDirSwapped(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	sub := filepath.Join(src, "www", "sub")
	must(t, os.MkdirAll(sub, 0o755))
	must(t, os.WriteFile(filepath.Join(sub, "new.txt"), []byte("restored"), 0o644))
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	must(t, os.Remove(filepath.Join(sub, "new.txt")))

	victim := t.TempDir()
	swapped := 0
	for _, policy := range []string{overwriteNever, overwriteAlways} {
		rs := &restorer{ctx: ctx, g: r, snap: res.Snapshot, policy: policy}
		rs.merging = func(dir string) {
			if dir == sub {
				swapped++
				swapForLink(t, sub, victim)
			}
		}
		must(t, rs.inPlace([]string{"src"}))
		if len(rs.res.Failed) != 0 {
			t.Fatalf("--overwrite %s: failed %+v", policy, rs.res.Failed)
		}
		if ents, _ := os.ReadDir(victim); len(ents) != 0 {
			t.Fatalf("--overwrite %s: merged through the swapped directory into %s: %v", policy, victim, ents)
		}
		if b, err := os.ReadFile(filepath.Join(sub+".moved", "new.txt")); err != nil || string(b) != "restored" {
			t.Fatalf("--overwrite %s: new.txt in the directory merged into: %q %v", policy, b, err)
		}
		// Put the directory back, empty, for the next policy.
		must(t, os.Remove(sub))
		must(t, os.Rename(sub+".moved", sub))
		must(t, os.Remove(filepath.Join(sub, "new.txt")))
	}
	if swapped != 2 {
		t.Fatalf("swapped %d times, want 2", swapped)
	}
}
