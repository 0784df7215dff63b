// Package config owns the appliance configuration: one declarative YAML
// document with a section per part of the box (identity, API, network, …;
// later issues add storage tiers, schedules and the tunnel).
//
// Where a configuration comes from, in order of precedence:
//
//  1. an override named on the kernel command line (keep.config=PATH or
//     keep.config=b64:BASE64), used for first boot and by tests;
//  2. the defaults baked into the image at /etc/keep/keep.yaml;
//  3. the compiled-in Defaults, which always validate.
//
// Later layers are parsed on top of earlier ones: a document only has to
// name what it changes.
//
// Invariants:
//   - Parse never returns a Config that fails Validate.
//   - Every validation error names the field by its YAML path
//     (network.ethernets.eth0.addresses[1]) and says what is wrong with it,
//     so an operator can fix the file without reading code.
//   - Unknown fields are errors: a typo must not silently fall back to a
//     default.
//
// Tested by table tests over good and bad documents and a fuzz test of
// Parse (configuration is outside bytes).
package config
