#!/bin/bash
# build-initramfs.sh builds the runner's base initramfs (uncompressed newc
# cpio) for the cached kernel and prints its path. The result is cached,
# keyed by kernel version and this script's content, so warm runs skip it.
#
# Contents: busybox-static with its applet links, /dev/console and /dev/null,
# the IPVS modules (and dummy, veth, bridge, ipip, ip6_tunnel, nf_tables) in load order
# with modules.dep so an in-guest modprobe works, ipvsadm with its shared
# libraries, and /init.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HAKEEPER_VM_CACHE:-$here/cache}
kver=$(cat "$cache/kernel-version" 2>/dev/null) || { echo "build-initramfs.sh: no kernel in $cache; run test/vm/setup.sh" >&2; exit 1; }
kroot=$cache/kernel-$kver

# Dependencies come from modules.dep (modprobe --show-depends below): tunnel4
# and ip_tunnel before ipip, tunnel6 before ip6_tunnel, llc and stp before
# bridge. ipip and ip6_tunnel decapsulate on the backends of tunnel (TUN)
# data-path tests; bridge is the L2 segment of the direct-routing ones;
# nf_tables (after nfnetlink) carries the fwmark rules of the LVS lab.
modules=(crc32c_generic libcrc32c nf_defrag_ipv4 nf_defrag_ipv6 nf_conntrack
	ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh ip_vs_mh ip_vs_lc ip_vs_wlc ip_vs_dh ip_vs_sed ip_vs_nq
	dummy veth bridge ipip ip6_tunnel nf_tables)

key=$( (echo "$kver"; cat "$0" "$here/init") | sha256sum | cut -c1-16)
out=$cache/initramfs-base-$kver-$key.cpio
if [[ -s $out ]]; then
	echo "$out"
	exit 0
fi

stage=$(mktemp -d "$cache/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,var/run/netns,test}

cp /bin/busybox "$stage/bin/busybox"
for applet in $(busybox --list-full); do
	[[ -e $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
done
# The kernel needs a console before devtmpfs is mounted by /init.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3

# Modules in dependency order, as modprobe would load them.
order=()
declare -A seen=()
for m in "${modules[@]}"; do
	while read -r verb path _; do
		[[ $verb == insmod ]] || continue
		rel=${path#"$kroot"}
		[[ -n ${seen[$rel]:-} ]] && continue
		seen[$rel]=1
		order+=("$rel")
	done < <(modprobe -d "$kroot" -S "$kver" --show-depends --ignore-install "$m")
done
for rel in "${order[@]}"; do
	mkdir -p "$stage/$(dirname "$rel")"
	cp "$kroot/$rel" "$stage/$rel"
done
printf '%s\n' "${order[@]}" >"$stage/etc/vm-modules"
cp "$kroot/lib/modules/$kver/modules.order" "$kroot/lib/modules/$kver/modules.builtin"* "$stage/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$stage" "$kver"

# ipvsadm and the shared libraries it links, at the same paths.
if [[ -x /usr/sbin/ipvsadm ]]; then
	cp /usr/sbin/ipvsadm "$stage/usr/sbin/ipvsadm"
	for lib in $(ldd /usr/sbin/ipvsadm | grep -o '/[^ ]*'); do
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done
fi

cp "$here/init" "$stage/init"
chmod 755 "$stage/init"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
# Old bases for other kernels or script versions are dead weight.
find "$cache" -maxdepth 1 -name 'initramfs-base-*.cpio' ! -path "$out" -delete
echo "$out"
