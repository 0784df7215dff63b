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
