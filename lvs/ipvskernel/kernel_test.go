package ipvskernel

import (
	"encoding/binary"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
)

// The kernel takes an IPVS persistence netmask in network byte order;
// these check the encoding on the host (the VM tests check it against
// ipvsadm's view).
func TestNetmaskEncoding(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		family lvs.Family
		plen   uint8
	}{
		{"ipv4 /32", lvs.FamilyIPv4, 32}, {"ipv4 /24", lvs.FamilyIPv4, 24}, {"ipv4 /1", lvs.FamilyIPv4, 1},
		{"ipv4 /0", lvs.FamilyIPv4, 0}, {"ipv6 /128", lvs.FamilyIPv6, 128}, {"ipv6 /64", lvs.FamilyIPv6, 64},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			v := netmaskToKernel(tc.family, tc.plen)
			if got := netmaskFromKernel(tc.family, v); got != tc.plen {
				t.Errorf("round trip of /%d gave /%d (kernel value %#x)", tc.plen, got, v)
			}
		})
	}
	// 255.255.255.0 must reach the kernel as the bytes ff ff ff 00.
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], netmaskToKernel(lvs.FamilyIPv4, 24))
	if b != [4]byte{0xff, 0xff, 0xff, 0} {
		t.Errorf("/24 encodes as bytes % x, want ff ff ff 00", b)
	}
	if v := netmaskToKernel(lvs.FamilyIPv6, 64); v != 64 {
		t.Errorf("IPv6 /64 encodes as %d", v)
	}
}
