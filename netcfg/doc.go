// Package netcfg applies the appliance's network configuration to the
// kernel over netlink and watches links.
//
// The configuration (Config, netplan style) names ethernets (by kernel
// name, or matched by MAC or name pattern and renamed), bonds
// (active-backup, 802.3ad… with primary and miimon), VLANs on either,
// MTUs, static addresses, routes with metric and table, name servers,
// DHCPv4 and time servers. Config.Desired converts it into the desired
// state of each interface.
//
// Applying is a diff: Take reads the running state, PlanFor compares it
// with the desired state and lists the steps that close the gap, in the
// order the kernel needs (renames first, on closed links; bonds created,
// members closed and enslaved, the bond opened after; VLANs on their
// links; addresses; routes), and Applier.Execute makes them. Renamed
// ports keep their kernel name as an alternative name, so a
// configuration naming them so (a rollback) finds them again.
//
// Invariants:
//   - Apply is idempotent: the plan for a state that already runs the
//     configuration is empty, so applying it again changes nothing.
//   - Interfaces, addresses and routes no configuration named are left
//     alone. Replace (from a previous configuration) also removes what
//     the previous one declared and the new one does not: bonds, VLANs,
//     addresses, routes, MTUs, renames. A configured bond's members are
//     exactly the configured ones.
//   - Going from configuration A to B and back to A restores the state
//     A had: Transaction relies on it to revert a configuration that was
//     not confirmed in time.
//
// The kernel is reached through the small Handle interface, which
// *netlink.Handle satisfies (open it with
// netlink.NewHandle(unix.NETLINK_ROUTE)). Unit tests use an in-memory
// kernel written from the kernel's behaviour, host tests apply
// configurations to veth pairs in a throwaway network namespace, and
// the QEMU scenarios prove bonds, VLANs and failover on the image's
// kernel.
//
// The sub-package ntp is the SNTP client that keeps the clock, with the
// RTC written at shutdown.
package netcfg
