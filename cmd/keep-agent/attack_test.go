package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"keep/engine/backup"
	"keep/engine/restore"
	"keep/engine/snapshot"
)

// The tests below restore as root into a directory of an unprivileged
// user (uid 1000, "alice", like /home/alice), who renames things in it
// while the restore runs, by her own powers only (a shell run as her).
// Found by review: each attack worked before the change named in its
// test.

const alice = 1000

// asAlice runs a shell script as uid/gid 1000 and returns its error.
func asAlice(t *testing.T, script string) error {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("these tests restore as root against another user (make test runs as root); running as uid %d", os.Geteuid())
	}
	cmd := exec.Command("/bin/sh", "-c", "set -e; "+script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: alice, Gid: alice}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("as uid %d: %s: %v: %s", alice, script, err, out)
	}
	return err
}

// aliceHome makes base/src, a directory of alice's in a root-owned 0755
// base (like /home/alice in /home), holding www/index.html and
// www/sub/f and .profile, backs it up and returns src and a restorer for the snapshot.
func aliceHome(t *testing.T) (base, src string, snap *snapshot.Snapshot, rs *restorer) {
	t.Helper()
	ctx := context.Background()
	base, err := os.MkdirTemp("/tmp", "keep-attack-")
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	src = filepath.Join(base, "src")
	must(t, os.MkdirAll(filepath.Join(src, "www", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "www", "index.html"), []byte("page"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "www", "sub", "f"), []byte("f"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, ".profile"), []byte("PATH=~/bin:$PATH\n"), 0o644))
	must(t, filepath.Walk(src, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, alice, alice)
	}))
	r := newTestRepo(t)
	res, err := backup.Run(ctx, r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	return base, src, res.Snapshot, &restorer{ctx: ctx, g: r, snap: res.Snapshot}
}

func ownerOf(t *testing.T, p string) uint32 {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(p, &st))
	return st.Uid
}

// rootSSH makes a root-owned directory src/.ssh with a root-managed
// authorized_keys: what alice must not gain.
func rootSSH(t *testing.T, src string) string {
	t.Helper()
	ssh := filepath.Join(src, ".ssh")
	must(t, os.Mkdir(ssh, 0o755))
	must(t, os.WriteFile(filepath.Join(ssh, "authorized_keys"), []byte("admin key\n"), 0o644))
	return ssh
}

func checkSSH(t *testing.T, ssh string) {
	t.Helper()
	ents, err := os.ReadDir(ssh)
	if err != nil || len(ents) != 1 || ents[0].Name() != "authorized_keys" || ownerOf(t, ssh) != 0 {
		t.Errorf("root's %s: entries %v, %v, owner %d; want root's, with authorized_keys only", ssh, ents, err, ownerOf(t, ssh))
	}
}

// TestStagingOutOfUsersReach: the staging directory is made where alice
// cannot rename it (in base, root's, not in her src), so she cannot move
// it onto the name being merged (which made the merge chown it to her and
// remove what was restored).
func TestStagingOutOfUsersReach(t *testing.T) {
	base, src, _, rs := aliceHome(t)
	must(t, os.Remove(filepath.Join(src, "www", "index.html")))
	rs.policy = overwriteAlways
	var stage string
	moved := true
	rs.staged = func(s string) {
		stage = s
		moved = asAlice(t, "mv "+src+"/www "+src+"/www.mine; mv "+s+" "+src+"/www") == nil
	}
	must(t, rs.inPlace([]string{"src/www"}))
	if filepath.Dir(stage) != base || moved {
		t.Fatalf("staging directory %s (want one in %s), moved by alice: %v", stage, base, moved)
	}
	if len(rs.res.Failed) != 0 || ownerOf(t, filepath.Join(src, "www")) != alice {
		t.Fatalf("failed %+v, www owned by %d", rs.res.Failed, ownerOf(t, filepath.Join(src, "www")))
	}
	if b, err := os.ReadFile(filepath.Join(src, "www", "index.html")); err != nil || string(b) != "page" {
		t.Fatalf("www/index.html: %q %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(base, stagingPrefix+"*")); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
}

// TestRootDirMovedOntoMerge: alice renames a root-owned directory of hers
// (a root-managed ~/.ssh) onto the name being merged: the restore leaves
// it alone (it wrote the snapshot's files into it and, with always,
// chowned it to her).
func TestRootDirMovedOntoMerge(t *testing.T) {
	for _, policy := range []string{overwriteNever, overwriteAlways} {
		t.Run(policy, func(t *testing.T) {
			_, src, _, rs := aliceHome(t)
			ssh := rootSSH(t, src)
			rs.policy = policy
			rs.staged = func(string) {
				must(t, asAlice(t, "mv "+src+"/www "+src+"/www.mine && mv "+ssh+" "+src+"/www"))
			}
			must(t, rs.inPlace([]string{"src/www"}))
			must(t, asAlice(t, "mv "+src+"/www "+ssh))
			checkSSH(t, ssh)
			if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "left alone") {
				t.Fatalf("failed %+v, want www left alone", rs.res.Failed)
			}
		})
	}
}

// TestRootDirMovedOntoFile: the snapshot has a file where alice puts
// root's directory (renamed within her directory: a directory of root's
// cannot move to another): --overwrite always, as root, renames the
// directory aside, whole, and reports it (it removed it, with root's files
// in it).
func TestRootDirMovedOntoFile(t *testing.T) {
	_, src, _, rs := aliceHome(t)
	ssh := rootSSH(t, src)
	rs.policy = overwriteAlways
	rs.staged = func(string) {
		must(t, asAlice(t, "rm "+src+"/.profile && mv "+ssh+" "+src+"/.profile"))
	}
	must(t, rs.inPlace([]string{"src/.profile"}))
	aside, _ := filepath.Glob(filepath.Join(src, ".profile.keep-replaced-*"))
	if len(aside) != 1 || len(rs.aside) != 1 || rs.aside[0] != aside[0] || len(rs.res.Failed) != 0 {
		t.Fatalf("set aside %v (reported %v), failed %+v", aside, rs.aside, rs.res.Failed)
	}
	checkSSH(t, aside[0])
	if b, err := os.ReadFile(filepath.Join(src, ".profile")); err != nil || !strings.HasPrefix(string(b), "PATH=") {
		t.Fatalf(".profile: %q %v", b, err)
	}
}

// TestRootLinkMovedOntoPath: a root-owned symlink in alice's directory (an
// admin's link to a root-managed directory) that she renames onto an
// element of the destination's path is not followed (it was: the restore
// wrote into root's directory).
func TestRootLinkMovedOntoPath(t *testing.T) {
	base, src, _, rs := aliceHome(t)
	victim := filepath.Join(base, "etc-app")
	must(t, os.Mkdir(victim, 0o755))
	must(t, os.Symlink(victim, filepath.Join(src, "logs")))
	rs.policy = overwriteNever
	must(t, asAlice(t, "mv "+src+"/www "+src+"/www.mine && mv "+src+"/logs "+src+"/www"))
	must(t, rs.inPlace([]string{"src/www/sub"}))
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Fatalf("restored into root's %s through a link alice moved: %v", victim, ents)
	}
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "others can change") {
		t.Fatalf("failed %+v, want the link refused", rs.res.Failed)
	}
}

// TestMissingParentsAreTheUsers: directories an in-place restore makes on
// the way to a destination in alice's directory are hers (they were
// root's, which also made the walk refuse to go on into them).
func TestMissingParentsAreTheUsers(t *testing.T) {
	_, src, _, rs := aliceHome(t)
	must(t, os.RemoveAll(filepath.Join(src, "www")))
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/www/sub"}))
	if len(rs.res.Failed) != 0 || ownerOf(t, filepath.Join(src, "www")) != alice || ownerOf(t, filepath.Join(src, "www", "sub", "f")) != alice {
		t.Fatalf("failed %+v; www owned by %d", rs.res.Failed, ownerOf(t, filepath.Join(src, "www")))
	}
}

// TestToThroughUsersLink: restore --to a path in alice's directory that
// she made a symlink to a disk (a loop device here) writes nothing to the
// disk (it wrote the image onto it); --to a root-owned link in a root-only
// directory (as /dev/disk/by-id names are) still reaches the device.
func TestToThroughUsersLink(t *testing.T) {
	base, src, _, rs := aliceHome(t)
	back := filepath.Join(base, "disk.raw")
	must(t, os.WriteFile(back, make([]byte, 1<<20), 0o600))
	out, err := exec.Command("losetup", "--find", "--show", back).Output()
	if err != nil {
		t.Fatalf("losetup --find --show: %v: the kernel needs loop devices (modprobe loop)", err)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "--detach", dev).Run()
	to := filepath.Join(src, "www", "index.html")
	must(t, asAlice(t, "rm "+to+" && ln -s "+dev+" "+to))
	if _, err := rs.writeImage("src/www/index.html", to); err == nil || !strings.Contains(err.Error(), "owned by uid 1000") {
		t.Fatalf("--to through alice's link: %v", err)
	}
	if b, _ := os.ReadFile(back); string(b[:4]) == "page" {
		t.Fatalf("the image was written onto %s through alice's link", dev)
	}
	// root's link, in a directory of root's.
	byID := filepath.Join(base, "by-id")
	must(t, os.Mkdir(byID, 0o755))
	must(t, os.Symlink(dev, filepath.Join(byID, "disk0")))
	res, err := rs.writeImage("src/www/index.html", filepath.Join(byID, "disk0"))
	if err != nil || res.Files != 1 {
		t.Fatalf("--to root's link to the device: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(back); string(b[:4]) != "page" {
		t.Fatalf("the device holds %q, want the image", b[:4])
	}
}

// homeWithRootDir is aliceHome with a directory of root's, src/NAME
// (mode), holding a file "f", in the snapshot too.
func homeWithRootDir(t *testing.T, name string, mode uint32) (base, src string, rs *restorer) {
	t.Helper()
	base, src, _, _ = aliceHome(t)
	d := filepath.Join(src, name)
	must(t, os.Mkdir(d, 0o700))
	must(t, os.Chmod(d, os.FileMode(mode)))
	must(t, os.WriteFile(filepath.Join(d, "f"), []byte("root's "+name), 0o644))
	r := newTestRepo(t)
	res, err := backup.Run(context.Background(), r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	return base, src, &restorer{ctx: context.Background(), g: r, snap: res.Snapshot}
}

// TestRootDirSwappedForRootDir: alice renames root's ~/.ssh onto the name
// of another directory of root's that the snapshot has (~/logs): same
// owner, but not the directory backed up (its inode), so left alone (the
// snapshot's files went into root's .ssh, which took logs' mode).
func TestRootDirSwappedForRootDir(t *testing.T) {
	for _, policy := range []string{overwriteNever, overwriteAlways} {
		t.Run(policy, func(t *testing.T) {
			_, src, rs := homeWithRootDir(t, "logs", 0o755)
			ssh := rootSSH(t, src)
			rs.policy = policy
			must(t, asAlice(t, "mv "+src+"/logs "+src+"/logs.mine && mv "+ssh+" "+src+"/logs"))
			must(t, rs.inPlace([]string{"src/logs"}))
			must(t, asAlice(t, "mv "+src+"/logs "+ssh))
			checkSSH(t, ssh)
			if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "not the directory backed up") {
				t.Fatalf("failed %+v, want logs left alone", rs.res.Failed)
			}
		})
	}
	// The directory itself, not moved: merged.
	_, src, rs := homeWithRootDir(t, "logs", 0o755)
	must(t, os.Remove(filepath.Join(src, "logs", "f")))
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/logs"}))
	if b, err := os.ReadFile(filepath.Join(src, "logs", "f")); len(rs.res.Failed) != 0 || err != nil || string(b) != "root's logs" {
		t.Fatalf("root's own logs: %q %v, failed %+v", b, err, rs.res.Failed)
	}
}

// TestUserDirInPlaceOfRootDir: alice replaces root's 0700 ~/private with a
// directory of her own: the snapshot's files (0644, protected by the
// directory only) are not put in it for her to read.
func TestUserDirInPlaceOfRootDir(t *testing.T) {
	_, src, rs := homeWithRootDir(t, "private", 0o700)
	priv := filepath.Join(src, "private")
	must(t, os.Remove(filepath.Join(priv, "f")))
	must(t, asAlice(t, "mv "+priv+" "+priv+".root && mkdir "+priv))
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/private"}))
	if _, err := os.Stat(filepath.Join(priv, "f")); !os.IsNotExist(err) {
		t.Fatalf("root's private file restored into alice's directory: %v", err)
	}
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "not by the snapshot's uid 0") {
		t.Fatalf("failed %+v, want private left alone", rs.res.Failed)
	}
}

// TestUserDirWithRootFilesOntoFile: alice moves her own directory, which
// holds a file of root's she cannot delete, onto the name of a file the
// snapshot has: as root it is renamed aside whole (it was removed, root's
// file with it).
func TestUserDirWithRootFilesOntoFile(t *testing.T) {
	_, src, _, rs := aliceHome(t)
	admin := filepath.Join(src, "www", "admin")
	must(t, os.Mkdir(admin, 0o755))
	must(t, os.WriteFile(filepath.Join(admin, "keep"), []byte("root's"), 0o644))
	rs.policy = overwriteAlways
	must(t, asAlice(t, "rm "+src+"/.profile && mv "+src+"/www "+src+"/.profile"))
	must(t, rs.inPlace([]string{"src/.profile"}))
	aside, _ := filepath.Glob(filepath.Join(src, ".profile.keep-replaced-*"))
	if len(aside) != 1 {
		t.Fatalf("set aside %v, failed %+v", aside, rs.res.Failed)
	}
	if b, err := os.ReadFile(filepath.Join(aside[0], "admin", "keep")); err != nil || string(b) != "root's" {
		t.Fatalf("root's file in the directory set aside: %q %v", b, err)
	}
}

// TestSharedDirRefused: as root, a restore does not go through, nor make
// directories in, a group-writable directory without the sticky bit
// (anyone in the group could have moved its entries): refused, and
// nothing left made.
func TestSharedDirRefused(t *testing.T) {
	base, src, _, rs := aliceHome(t)
	_ = src
	shared := filepath.Join(base, "shared")
	must(t, os.Mkdir(shared, 0o775))
	must(t, os.Chmod(shared, 0o775))
	snap := *rs.snap
	snap.Paths = []string{filepath.Join(shared, "src")} // as if src was backed up from there
	rs.snap = &snap
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/www/sub"}))
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "others can change") {
		t.Fatalf("failed %+v, want the shared directory refused", rs.res.Failed)
	}
	if ents, _ := os.ReadDir(shared); len(ents) != 0 {
		t.Fatalf("made in the shared directory: %v", ents)
	}
}

// TestFileInRootDirOfUser: a file restored alone into a directory of
// root's in alice's directory (~/keys/f) goes in when that directory is
// the one backed up (same inode and owner), even though alice could have
// moved another there; not when she did.
func TestFileInRootDirOfUser(t *testing.T) {
	_, src, rs := homeWithRootDir(t, "keys", 0o755)
	keys := filepath.Join(src, "keys")
	must(t, os.Remove(filepath.Join(keys, "f")))
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/keys/f"}))
	if b, err := os.ReadFile(filepath.Join(keys, "f")); len(rs.res.Failed) != 0 || err != nil || string(b) != "root's keys" {
		t.Fatalf("keys/f: %q %v, failed %+v", b, err, rs.res.Failed)
	}
	must(t, os.Remove(filepath.Join(keys, "f")))
	other := filepath.Join(src, "other") // another directory of root's
	must(t, os.Mkdir(other, 0o755))
	must(t, asAlice(t, "mv "+keys+" "+keys+".x && mv "+other+" "+keys))
	rs.res = restore.Result{}
	must(t, rs.inPlace([]string{"src/keys/f"}))
	if ents, _ := os.ReadDir(keys); len(ents) != 0 || len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "may have been moved there") {
		t.Fatalf("root's other directory, moved onto keys: holds %v; failed %+v", ents, rs.res.Failed)
	}
}

// TestHomeOnOwnFilesystem: alice's home is a filesystem of its own (a
// tmpfs of hers here; a subvolume, a dataset): no directory on it only
// root can change, so the staging directory is made in the destination,
// root's and checked new; the restore goes in (it was refused), and alice
// moving the staging directory onto the merged name gets it left alone.
func TestHomeOnOwnFilesystem(t *testing.T) {
	src, rs := ownHome(t)
	snap := rs.snap
	must(t, os.Remove(filepath.Join(src, "www", "index.html")))
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src/www/index.html"}))
	if b, err := os.ReadFile(filepath.Join(src, "www", "index.html")); err != nil || string(b) != "page\n" || len(rs.res.Failed) != 0 {
		t.Fatalf("index.html: %q %v, failed %+v", b, err, rs.res.Failed)
	}
	// alice renames the staging directory (in src, her filesystem's
	// root) onto the name being merged: left alone, reported.
	rs = &restorer{ctx: context.Background(), g: rs.g, snap: snap, policy: overwriteAlways}
	rs.staged = func(s string) {
		if filepath.Dir(s) != src {
			t.Errorf("staging directory %s, want one in %s", s, src)
		}
		must(t, asAlice(t, "mv "+src+"/www "+src+"/www.mine && mv "+s+" "+src+"/www"))
	}
	must(t, rs.inPlace([]string{"src/www"}))
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "left alone") {
		t.Fatalf("failed %+v, want the moved staging directory left alone", rs.res.Failed)
	}
	if b, err := os.ReadFile(filepath.Join(src, "www.mine", "index.html")); err != nil || string(b) != "page\n" {
		t.Fatalf("alice's www: %q %v", b, err)
	}
}

// TestInodeReusedNotTrusted: root's ~/keys, backed up, is removed and
// root makes ~/.ssh, which gets the freed inode number; alice renames
// .ssh onto keys: it was born after the backup, so it is not the
// directory backed up and is left alone (its inode alone passed).
func TestInodeReusedNotTrusted(t *testing.T) {
	_, src, rs := homeWithRootDir(t, "keys", 0o700)
	keys := filepath.Join(src, "keys")
	must(t, os.RemoveAll(keys))
	// Root makes directories until one has keys' old inode number (ext4
	// hands freed ones out again at once), and makes it its .ssh.
	old, ssh := rsNodeInode(t, rs, "src/keys"), filepath.Join(src, ".ssh")
	for i := range 64 {
		d := filepath.Join(src, ".root"+strconv.Itoa(i))
		must(t, os.Mkdir(d, 0o755))
		if inodeOf(t, d) == old {
			must(t, os.Rename(d, ssh))
			break
		}
	}
	if _, err := os.Stat(ssh); err != nil {
		t.Fatalf("no directory got keys' inode %d back: the test needs a filesystem that reuses inode numbers (ext4)", old)
	}
	must(t, os.WriteFile(filepath.Join(ssh, "authorized_keys"), []byte("admin key\n"), 0o644))
	must(t, asAlice(t, "mv "+ssh+" "+keys))
	rs.policy = overwriteAlways
	must(t, rs.inPlace([]string{"src/keys"}))
	must(t, asAlice(t, "mv "+keys+" "+ssh))
	checkSSH(t, ssh)
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "not the directory backed up") {
		t.Fatalf("failed %+v, want keys left alone", rs.res.Failed)
	}
}

func inodeOf(t *testing.T, p string) uint64 {
	var st unix.Stat_t
	must(t, unix.Lstat(p, &st))
	return st.Ino
}

func rsNodeInode(t *testing.T, rs *restorer, sub string) uint64 {
	n, err := restore.FindNode(rs.ctx, rs.g, rs.snap, sub)
	must(t, err)
	return n.Inode
}

// TestHomeBehindRootSymlink: /home is root's symlink to var/home (as on
// ostree systems); a file restored into root's ~/keys in alice's home is
// trusted by the path the snapshot knows (/home/src/keys), not the
// resolved /var/home/src/keys.
func TestHomeBehindRootSymlink(t *testing.T) {
	base, src, rs := homeWithRootDir(t, "keys", 0o755)
	must(t, os.MkdirAll(filepath.Join(base, "var", "home"), 0o755))
	must(t, os.Rename(src, filepath.Join(base, "var", "home", "src")))
	must(t, os.Symlink("var/home", filepath.Join(base, "home")))
	must(t, os.Remove(filepath.Join(base, "var", "home", "src", "keys", "f")))
	snap := *rs.snap
	snap.Paths = []string{"/home/src"}
	rs.snap, rs.root, rs.policy = &snap, base, overwriteNever
	must(t, rs.inPlace([]string{"src/keys/f"}))
	if b, err := os.ReadFile(filepath.Join(base, "var", "home", "src", "keys", "f")); err != nil || string(b) != "root's keys" || len(rs.res.Failed) != 0 {
		t.Fatalf("keys/f: %q %v, failed %+v", b, err, rs.res.Failed)
	}
}

// ownHome mounts a tmpfs of alice's on a new src (a home that is its own
// filesystem) holding www/index.html and a directory of root's, keys/f,
// backs it up and returns src and a restorer for the snapshot.
func ownHome(t *testing.T) (src string, rs *restorer) {
	t.Helper()
	_, src, _, _ = aliceHome(t)
	must(t, os.RemoveAll(src))
	must(t, os.Mkdir(src, 0o755))
	mountTmpfs(t, src, "mode=0755,uid=1000,gid=1000")
	must(t, asAlice(t, "mkdir -p "+src+"/www && echo page > "+src+"/www/index.html"))
	must(t, os.Mkdir(filepath.Join(src, "keys"), 0o700))
	must(t, os.WriteFile(filepath.Join(src, "keys", "f"), []byte("root's keys"), 0o644))
	r := newTestRepo(t)
	res, err := backup.Run(context.Background(), r, []string{src}, backup.Options{Hostname: "h"})
	must(t, err)
	return src, &restorer{ctx: context.Background(), g: r, snap: res.Snapshot}
}

// TestOwnHomeWhole: an in-place restore of a whole home that is its own
// filesystem stages once, on it (it staged on the filesystem above and
// restored everything a second time).
func TestOwnHomeWhole(t *testing.T) {
	src, rs := ownHome(t)
	must(t, os.Remove(filepath.Join(src, "www", "index.html")))
	var stages []string
	rs.staged = func(s string) { stages = append(stages, s) }
	rs.policy = overwriteNever
	must(t, rs.inPlace([]string{"src"}))
	if len(stages) != 1 || filepath.Dir(stages[0]) != src || len(rs.res.Failed) != 0 {
		t.Fatalf("staged in %v (want once, in %s), failed %+v", stages, src, rs.res.Failed)
	}
	if b, err := os.ReadFile(filepath.Join(src, "www", "index.html")); err != nil || string(b) != "page\n" {
		t.Fatalf("index.html: %q %v", b, err)
	}
}

// TestStageNotTakenForDestination: root's ~/keys, lost, is restored in
// place on a home of its own; alice renames the staging directory (root's,
// made in her home) onto keys: the merge does not take it for keys.
func TestStageNotTakenForDestination(t *testing.T) {
	src, rs := ownHome(t)
	keys := filepath.Join(src, "keys")
	must(t, os.RemoveAll(keys))
	rs.staged = func(s string) { must(t, asAlice(t, "mv "+s+" "+keys)) }
	rs.policy = overwriteAlways
	must(t, rs.inPlace([]string{"src/keys"}))
	if len(rs.res.Failed) != 1 || !strings.Contains(rs.res.Failed[0].Reason, "staging directory") {
		t.Fatalf("failed %+v, want the moved staging directory refused as keys", rs.res.Failed)
	}
}
