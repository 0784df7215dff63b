// Package noc builds and boots the NOC guest: Debian's 6.1 kernel — which,
// unlike the build host's, has ESP, XFRM interfaces and nftables NAT — with
// strongSwan 5.9.8 (charon-systemd) using kernel-netlink, i.e. real kernel
// ESP, as the provider's peer in whole-system tests. It is the template of
// the appliance↔NOC scenarios: today two NOC guests (one playing the vault)
// prove the data plane Keep will use; once Keep's own IKE daemon exists, the
// appliance image takes the vault's place on the same link.
//
// # The image
//
// BuildImage writes build/noc/noc-base.cpio (raw newc; the notes measured a
// raw initramfs unpacking faster than a compressed one under TCG) with a
// sha256 beside it. The archive is assembled in memory from the current
// inputs on every call (about 0.7 s, memoised per process) and the file is
// rewritten only when its hash differs, so a changed input — a strongSwan
// update, a module, nocinit's source — rebuilds it, and nothing else does.
// It uses the image package's newc writer, tree layout and module closure
// (image/extra.go); the program closure is its own, because image's
// toolClosure does not follow DT_RUNPATH, which strongSwan's binaries need
// (/usr/lib/ipsec). Contents (see also /etc/noc/manifest in the guest):
//
//	/init                 nocinit (cmd/nocinit, static Go): PID 1, the agent, /sbin/modprobe,
//	                      and /usr/bin/ping when the host has no iputils (Debian 12 here has none)
//	/usr/sbin/charon-systemd, swanctl, /usr/bin/pki   strongSwan, with libcharon, libstrongswan,
//	                      libvici … from /usr/lib/ipsec via RUNPATH
//	/usr/lib/ipsec/plugins  SwanPlugins: random nonce openssl pem pkcs1 pkcs8 x509 revocation
//	                      constraints pubkey gmp hmac kdf gcm aes sha1 sha2 drbg kernel-netlink
//	                      socket-default vici updown (no curve25519: Debian ships it elsewhere)
//	libgcc_s.so.1, ossl-modules/legacy.so   dlopened, invisible to ldd (Dlopened)
//	/usr/bin/ip, nft, tcpdump, sysctl, bash (also /bin/sh), coreutils and procps tools (Programs)
//	/etc/strongswan.conf  DefaultStrongswanConf: explicit load list, no journal, filelog
//	                      /var/log/charon.log with ms timestamps ("%F %T" + time_add_ms)
//	/etc/swanctl/         swanctl.conf includes conf.d/*.conf; x509/, x509ca/, private/ …
//	/etc/passwd, group, hosts, nsswitch.conf, protocols, services
//	/lib/modules/6.1.0-56-amd64/   closure of Modules with a filtered index; /etc/noc/modules
//	                      lists them in load order (48 modules, ~1 s to load under TCG)
//
// Options.Files adds files (configs, certificates, test binaries) as a
// second newc archive appended to the base for that boot: the kernel unpacks
// concatenated archives in order and a later entry replaces an earlier one,
// so Files can also replace image files (e.g. /etc/strongswan.conf).
//
// # Booting and running commands
//
//	vm := noc.Boot(t, noc.Options{
//		Name:   "noc",
//		NICs:   []qemu.NIC{{ID: "wan", Kind: qemu.NICStream, Listen: sock}},
//		Files:  []noc.File{{Path: "/etc/swanctl/conf.d/vault.conf", Data: conf}},
//		Script: "ip link set eth0 up; ip addr add 203.0.113.1/24 dev eth0",
//	})
//	out := vm.MustRun(t, "swanctl --list-sas --raw")
//	r, err := vm.Run(ctx, "ping -c 3 10.1.0.10")   // r.Stdout, r.Stderr, r.Exit, r.TimedOut
//	data, err := vm.ReadFile(ctx, "/var/log/charon.log")
//	err = vm.Stop(ctx)                              // guest power-off, QEMU exits 0
//
// Boot runs the machine with package qemu (PVH vmlinux from make image, 512
// MiB, one vCPU, NICs in order as eth0, eth1 …) plus a virtio-serial port
// whose host end is the unix socket Dir/agent.sock. PID 1 mounts the kernel
// file systems, loads the module list, brings lo up, sets the host name
// (noc.hostname=) and starts the agent as its only child; the agent prints
// NOC-READY on the console and serves one JSON request at a time over the
// port: run a bash script (output captured in files, not pipes, so daemons a
// script leaves in the background never hold the request; the exit status,
// 128+N for signal N; a timeout derived from ctx kills the script's process
// group in the guest), read a file, write a file, power off. Boot waits for
// NOC-READY, connects, pings the agent, then runs Options.Script and fails
// the test if it exits non-zero. Cleanup kills QEMU (package qemu's
// guarantee) and prints the console's tail if the test failed. Under -short
// Boot skips; a missing QEMU or kernel fails.
//
// Why a virtio-serial agent rather than the serial console: the harness's
// console is a file QEMU writes (nothing can be typed), and marker parsing on
// a console shared with kernel messages is fragile; the port gives binary-safe
// framing, stdout and stderr apart, exit status, and file transfer, and a
// slow TCG guest just answers later. Why a Go init rather than bash as /init:
// it reuses appliance/kmod (module loading and the kernel's request_module)
// and appliance/pid1 (mounts, power-off), reaps orphans properly (every
// daemon a script backgrounds becomes PID 1's), and there is no busybox in
// the image to shadow real tools. bash is still what every script runs in.
//
// strongSwan helpers: PSKSite renders a swanctl.conf for a PSK site-to-site
// tunnel (default proposals aes256gcm16-prfsha384-ecp384 and ESP
// aes256gcm16-ecp384); VM.StartCharon starts charon-systemd and loads
// /etc/swanctl; VM.Swanctl runs swanctl; SetupTime/SetupTimes measure
// "initiating IKE_SA" → "CHILD_SA … established" from the initiator's log.
// Options.Capture records a NIC's traffic on the host with QEMU's
// filter-dump (the wire, both directions); ClassifyPcap sorts frames into
// IKE (UDP 500), IKE behind the non-ESP marker on 4500, ESP-in-UDP,
// keepalives, raw ESP, ARP and anything else (a leak).
//
// # Tests
//
//	go test ./qemu/noc/ -run TestBootAndRun -v     agent, files, exit codes, timeouts, modules, power-off
//	go test ./qemu/noc/ -run TestXfrmInGuest -v    ipsec/xfrm's TestNetlinkSAPath (and all TestNetlink*)
//	                                               with KEEP_XFRM_ESP=yes; ifidprobe (UpdateSA + if_id)
//	go test ./qemu/noc/ -run TestSwanTunnel -v     two guests, strongSwan↔strongSwan PSK with kernel ESP
//	go test ./qemu/noc/ -short                     the pure parts (pcap, conf, log parsing, overlay)
//
// They need build/vmlinux (make image) or KEEP_KERNEL.
//
// # Measured (2026-12-03, this 2-core host under load, TCG, QEMU 7.2)
//
//   - Boot to agent ready: 3.8–8.7 s wall from QEMU's exec (guest uptime
//     3.3–6.3 s), of which loading the 48 modules takes 0.8–1.8 s; with the
//     host at load average 5 (other test suites), 7–21 s wall at guest
//     uptime 4.7–7.3 s. The 31 MiB raw base image is reused between runs
//     (about 0.7 s to verify). The whole package: 50 s idle, 110 s loaded.
//   - Tunnel setup, from the initiator's charon log (initiating IKE_SA →
//     CHILD_SA established, IKE_SA_INIT + IKE_AUTH, PSK, ECP-384): the
//     first after boot 1.0–1.4 s, later ones 0.19–0.25 s (up to 1.0 s on a
//     loaded host); swanctl --initiate wall 1.3–1.8 s first, 0.5–0.6 s
//     later. The first setup
//     pays about 0.5 s on each side for the first SAD entry (the kernel
//     instantiating seqiv(rfc4106(gcm(aes))) and seeding drbg under TCG)
//     and the responder's first ECP-384 key exchange.
//   - On the wire of one setup plus 2×5 LAN pings: 2 IKE on udp/500, 2 IKE
//     on udp/4500, 20 raw ESP, 2 ARP, nothing else.
//
// # Pitfalls hit
//
//   - drbg's default stdrng is hmac(sha512): without sha512_generic (no
//     modules.dep names it) every AES SA fails with ENOENT ("Kernel was
//     unable to initialize cryptographic operations"); ipsec/xfrm maps that
//     ENOENT to ErrNotFound, so TestNetlinkSAPath reported "UpdateSA of
//     larval SA: not found" — a misleading message worth knowing.
//   - In the guest, tcpdump on the outer interface shows decrypted inbound
//     ESP payloads as plaintext arriving on it (the kernel re-injects them
//     there); only outbound (-Q out) or a host-side capture (filter-dump)
//     shows the wire. tcpdump also needs --immediate-mode, or the packets in
//     the current ring block are lost when it is stopped.
//   - Background jobs of a non-interactive bash ignore SIGINT: stop tcpdump
//     with SIGTERM.
//   - A PID 1 that reaps with wait4(-1) while os/exec waits (appliance/pid1's
//     Reaper holds a lock for the whole command) leaves daemons that exit
//     during a script as zombies, so `kill -0` loops never end; hence the
//     separate agent process.
//   - strongSwan moves IKE to UDP 4500 after IKE_SA_INIT even without NAT
//     (MOBIKE), so "only 500/4500 and ESP" must look at the 4500 payloads:
//     non-ESP marker = IKE, else ESP-in-UDP (which must not appear without
//     NAT).
//   - Debian 12's ip is /usr/bin/ip (/usr/sbin/ip is a symlink); there is no
//     ping without iputils-ping (nocinit provides one); there is no
//     curve25519 plugin in the installed packages.
//   - Scripts' stdout and stderr are regular files: `tee /dev/stderr`
//     reopens and truncates the stderr file; write to >&2 instead.
//
// UpdateSA and if_id: on this kernel, UpdateSA with IfID set completes the
// larval SA that AllocSPI (without if_id) reserved: one SA remains, with the
// AEAD, ESN, encap and "if_id 0x4b45" (internal/ifidprobe, run by
// TestXfrmInGuest).
package noc
