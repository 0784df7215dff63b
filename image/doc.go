// Package image builds Keep's bootable initramfs: a zstd-compressed newc
// cpio archive that the kernel unpacks as the root file system.
//
// It owns the image's layout and its reproducibility:
//
//	/init                     the keep binary (0755), PID 1
//	/sbin/modprobe -> /init   so the kernel's request_module() reaches kmod.Modprobe
//	/dev/console              char 5,1: the kernel opens it for init's stdio before devtmpfs exists
//	/dev /proc /sys /run /tmp /etc /sbin    mount points and directories PID 1 expects
//	/etc/keep/keep.yaml       the default appliance config (Spec.Config)
//	/etc/keep/modules         the requested modules in load order, one per line (kmod.ParseList)
//	/lib/modules/<release>/   the module closure of Spec.Modules (DefaultModules) with
//	                          modules.dep, .alias, .softdep filtered to it (kmod.DB.Subset),
//	                          modules.builtin and the aliases of modules.builtin.modinfo
//
// and ExtractVmlinux, which unpacks the ELF vmlinux from the Debian bzImage
// so QEMU can boot it by PVH without the kernel's slow self-decompression.
//
// Invariants:
//
//   - The image depends only on its inputs: entries sorted by path with
//     every parent directory present (parents precede children), inode
//     numbers assigned in that order, uid/gid/mtime 0, no host data; zstd
//     with one encoder goroutine, a fixed level, an 8 MiB window (what the
//     kernel's decompressor must buffer) and the content size in the header.
//     Two builds from the same inputs are byte-identical.
//   - The filtered module index never names a module file the image lacks,
//     so an alias resolved at run time always has a file to load. Built-in
//     modules are kept in full: they need no file.
//   - /init is a static ELF executable (the image has no libc); Build
//     refuses anything else, and a config that is not YAML.
//   - The image file is replaced atomically; a failed build leaves none.
//
// Testing: the newc writer is checked against a strict reader in the tests
// and against GNU cpio ("cpio -tv") as an independent oracle; Build runs on
// fake inputs (a small module tree in t.TempDir, a minimal ELF) twice for
// byte identity and is read back entry by entry, including by kmod as the
// runtime will; the zstd frame header is checked and the zstd tool
// decompresses the image. ExtractVmlinux runs on a fake bzImage made with
// xz --x86. TestDefaultModulesRealTree and TestBuildRealTree use the pinned
// Debian tree ($KEEP_MODULES_DIR, default /lib/modules/6.1.0-56-amd64;
// a missing tree or oracle tool fails the test; only -short skips the real
// tree). That the kernel boots the image is proven by the QEMU scenarios.
//
// Why not u-root's pkg/cpio (DESIGN §6 prefers it): the newc writer here is
// about 90 lines, and owning it keeps every byte of the archive under the
// reproducibility invariants above without pulling u-root's module graph
// into the firmware build.
package image
