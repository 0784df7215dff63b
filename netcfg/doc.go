// Package netcfg applies the appliance's network configuration to the
// kernel over netlink and watches links.
//
// Today it does what the boot needs to make the management API
// reachable: bring up loopback and named ethernets, set their MTU, add
// static addresses and routes. Bonds, VLANs, DHCP, confirm-or-rollback,
// link monitoring and bandwidth accounting are the network issue's work.
//
// Invariants:
//   - Apply is idempotent: it adds only what is missing, so applying the
//     same configuration twice changes nothing the second time.
//   - Addresses and routes that the configuration does not name are left
//     alone.
//
// The kernel is reached through the small Handle interface, which
// *netlink.Handle satisfies; unit tests use a fake, and the QEMU boot
// scenarios prove the real thing (the API answers on the configured
// address).
package netcfg
