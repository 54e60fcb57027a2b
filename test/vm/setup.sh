#!/bin/bash
# setup.sh installs what the VM test runner needs and fetches Debian's stock
# kernel (which has IPVS as modules) into the runner's cache. Idempotent: a
# second run with everything present does no network access.
#
#   test/vm/setup.sh            # packages + kernel
#   HAKEEPER_VM_CACHE=DIR       # cache directory (default test/vm/cache)
#   HAKEEPER_VM_KERNEL_PKG=PKG  # pin a kernel package (default: what
#                               # linux-image-amd64 depends on)
#
# Prints the cache directory's kernel version on success.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HAKEEPER_VM_CACHE:-$here/cache}
mkdir -p "$cache"

# Host packages: qemu boots the guest, busybox-static is its userland,
# cpio builds the initramfs, kmod resolves module order and runs depmod,
# xz-utils extracts the ELF kernel for the faster PVH boot, ipvsadm runs in
# the guest for cross-checks and the side-by-side benchmark.
packages=(qemu-system-x86 busybox-static cpio kmod xz-utils ipvsadm)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The kernel is fetched once; later runs reuse whatever the cache holds.
if [[ -s $cache/kernel-version && -s $cache/vmlinuz-$(cat "$cache/kernel-version") ]]; then
	cat "$cache/kernel-version"
	exit 0
fi

pkg=${HAKEEPER_VM_KERNEL_PKG:-}
if [[ -z $pkg ]]; then
	find_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
	pkg=$(find_pkg)
	if [[ -z $pkg ]]; then
		apt-get update -qq >&2
		pkg=$(find_pkg)
	fi
fi
[[ -n $pkg ]] || { echo "setup.sh: cannot find the kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }
kver=${pkg#linux-image-}

dl=$(mktemp -d "$cache/download.XXXXXX")
trap 'rm -rf "$dl"' EXIT
# The _apt sandbox user cannot write into a root-owned temp dir: that is fine.
(cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2)
deb=$(ls "$dl"/*.deb)
root=$cache/kernel-$kver
rm -rf "$root"
mkdir -p "$root"
dpkg-deb -x "$deb" "$root"
# The package's post-install would run depmod; we need modules.dep for
# modprobe --show-depends on the host and modprobe in the guest.
depmod -b "$root" "$kver"
cp "$root/boot/vmlinuz-$kver" "$cache/vmlinuz-$kver"

# Extract the ELF vmlinux from the bzImage: qemu boots it through the PVH
# entry point, which skips the real-mode decompressor (~3 s faster under TCG).
# pipefail off: xz stops reading after the first stream and tail gets SIGPIPE.
set +o pipefail
off=$(LC_ALL=C grep -obUaP '\xFD\x37\x7A\x58\x5A\x00' "$cache/vmlinuz-$kver" | head -n1 | cut -d: -f1)
if [[ -n $off ]] && tail -c +"$((off + 1))" "$cache/vmlinuz-$kver" | xz -dc --single-stream >"$cache/vmlinux-$kver.tmp" 2>/dev/null &&
	[[ $(head -c4 "$cache/vmlinux-$kver.tmp" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
	mv "$cache/vmlinux-$kver.tmp" "$cache/vmlinux-$kver"
else
	rm -f "$cache/vmlinux-$kver.tmp"
	echo "setup.sh: could not extract vmlinux; the runner boots the bzImage (slower)" >&2
fi
set -o pipefail
echo "$kver" >"$cache/kernel-version"
echo "$kver"
