// Package ipvskernel implements lvs.IPVS on the kernel's IPVS netlink
// interface (github.com/moby/ipvs), bound to one network namespace, and
// normalizes what the kernel reports so a table read back compares equal
// to the one written. Its tests need real IPVS and carry the vmtest build
// tag: run them in the VM with
//
//	go test -tags vmtest -exec "$PWD/test/vm/run" ./lvs/ipvskernel
package ipvskernel
