// Package kmod is the Linux kernel module database and loader.
//
// It owns three jobs:
//
//   - The database (DB): modules.dep, modules.alias, modules.softdep,
//     modules.builtin and the alias records of modules.builtin.modinfo, read
//     from a modules directory given as a path (OpenDir) or an fs.FS (Open).
//     Closure computes what a list of modules needs in load order; Resolve
//     turns a name or modalias into module names the way modprobe does;
//     Subset and IndexFiles write the index files of a trimmed tree. The image
//     builder uses this at build time to pick and index the modules it packs.
//   - The Loader: at boot PID 1 loads the image's module list with Load, and
//     gets one Result per module (loaded, already, builtin, no-device, error,
//     with its duration) to log and time.
//   - Modprobe: the kernel's request_module() runs /sbin/modprobe, a symlink
//     to our one binary, which calls Modprobe.
//
// Invariants:
//
//   - Module names are normalized ('-' → '_'); aliases are matched with
//     modprobe's normalization and fnmatch(3) semantics ('*' matches '/').
//   - Closure order: for each module its softdep "pre:" modules, its
//     modules.dep dependencies, itself, its softdep "post:" modules; each
//     module once. Built-in modules are part of a closure and need no file.
//     Unknown modules and hard dependency cycles are errors; softdeps that
//     resolve to nothing are skipped.
//   - Loading: a module whose <sys>/module/<name> exists is not loaded again;
//     EEXIST counts as loaded; ENODEV and ENXIO (the hardware is absent, e.g.
//     ipmi_si without a BMC) are NoDevice, not errors; a module whose hard
//     dependency did not load is not attempted. Plain .ko files of an on-disk
//     tree go to finit_module; .ko.xz, .ko.zst and .ko.gz are decompressed in
//     process and go to init_module.
//   - Module parameters: the kernel applies "mod.param=value" from its
//     command line only to built-in modules, so the loader passes them
//     (ParseCmdline of /proc/cmdline) itself, e.g. bonding.max_bonds=0.
//   - A DB is immutable after Open; there is no package-level mutable state.
//     Paths (modules directory, sysfs, command line) are fields (Paths).
//
// Testing: unit tests run against a fake module tree modelled on Debian 6.1
// (testing/fstest.MapFS, or written to t.TempDir for finit_module) and a
// fake of the unexported kernel interface, the only place syscalls happen,
// which forces errno values (EEXIST, ENODEV, ENXIO, EPERM, ENOEXEC). Tests
// never load modules into the host kernel. FuzzParse feeds arbitrary index
// files to the parsers and checks that whatever parses survives an
// encode/parse round trip. TestRealTree checks known facts of the real Debian
// tree ($KEEP_MODULES_DIR, default /lib/modules/6.1.0-56-amd64; a missing
// tree fails the test, only -short skips it). Loading for real is proven by
// the QEMU scenarios, which boot the image and rely on Load and Modprobe.
//
// Why not u-root's pkg/kmodule (DESIGN §6 prefers it): the image builder
// needs the same closure computation (with softdeps) and a filtered index,
// and PID 1 needs per-module results (no-device vs failure, timings) and
// command line parameters; one small package serves both.
package kmod
