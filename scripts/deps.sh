#!/usr/bin/env bash
# Installs what Keep's build and tests need on a Debian 12 machine.
# Idempotent: a second run finds everything present and installs nothing.
set -euo pipefail

kver="${KVER:?set KVER, e.g. 6.1.0-56-amd64}"
pkgs=(
  qemu-system-x86          # boots the appliance image under TCG
  "linux-image-${kver}"    # the pinned kernel: vmlinuz and /lib/modules/${kver}
  cpio                     # oracle that reads our newc archives
  xz-utils                 # unpacks the bzImage payload into a PVH-bootable vmlinux
  file                     # checks the keep binary is statically linked
  zstd                     # oracle that decompresses the image
  mdadm                    # oracle that reads the md superblocks raid/ writes (and, in the test image, runs arrays)
  xfsprogs                 # mkfs.xfs and xfs_repair, copied with their libraries into the image
  smartmontools            # oracle: smartctl in the QEMU test image checks raid/smart
  ipmitool                 # oracle: ipmitool in the QEMU test image checks ipmi/
  openipmi                 # ipmi_sim: an external BMC with a LAN channel behind ipmi-bmc-extern (qemu/ BMC LAN scenario)
  iproute2                 # ip netns/link/xfrm: the IPsec tests build namespaces and read XFRM state
  charon-systemd           # strongSwan 5.9.8 IKEv2 daemon: the IKE peer our daemon is tested against (ipsec/internal/swan)
  strongswan-swanctl       # swanctl: loads connections into charon over vici, initiates, lists SAs
  strongswan-pki           # pki: certificates for the X.509 interop tests
  libcharon-extra-plugins  # kernel-libipsec: userspace ESP on a host kernel without ESP
  libstrongswan-standard-plugins # gcm and openssl: without them strongSwan has no AES-GCM, ECP or X25519
  tcpdump                  # WAN captures in the IPsec tests
  nftables                 # nft masquerade in the NAT namespace of the NAT-T tests
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # strongSwan's packages would start their services on install; a
  # policy-rc.d that answers 101 forbids that. Create one only if there is
  # none (and remove only that one afterwards); an existing one that does
  # not answer 101 is moved aside for the install and put back.
  prc=/usr/sbin/policy-rc.d
  prc_rc=0
  if [ -x "$prc" ]; then "$prc" strongswan start >/dev/null 2>&1 || prc_rc=$?; fi
  if [ ! -e "$prc" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$prc" >/dev/null
    $sudo chmod 0755 "$prc"
    trap '$sudo rm -f "$prc"' EXIT
  elif [ "$prc_rc" -ne 101 ]; then
    $sudo mv "$prc" "$prc.keep-deps"
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$prc" >/dev/null
    $sudo chmod 0755 "$prc"
    trap '$sudo mv -f "$prc.keep-deps" "$prc"' EXIT
  fi
  # The package lists may be stale or absent on a fresh machine.
  if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  fi
else
  echo "deps: all ${#pkgs[@]} Debian packages present"
fi

if ! command -v go >/dev/null; then
  echo "deps: no Go toolchain on PATH; install Go 1.26 or newer (/usr/local/go/bin)" >&2
  exit 1
fi
need=26
have=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "$have" -lt "$need" ]; then
  echo "deps: Go $(go env GOVERSION) is too old; Keep needs go1.${need}" >&2
  exit 1
fi
for f in "/boot/vmlinuz-${kver}" "/lib/modules/${kver}/modules.dep"; do
  [ -r "$f" ] || { echo "deps: $f is missing although linux-image-${kver} is installed" >&2; exit 1; }
done
