package model_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// TestVIPLimitsFitOneAdvert holds the VIP limits Validate enforces to
// what the engine's encoder sends: a group at the limit encodes into a
// packet that fits a 1280-byte link with its IP header, and one VIP more
// either cannot be encoded or no longer fits.
func TestVIPLimitsFitOneAdvert(t *testing.T) {
	const mtu = 1280
	for _, tc := range []struct {
		desc     string
		version  int
		limit    int
		first    string
		src, dst netip.Addr
		ipHeader int
	}{
		{"IPv4 v3", 3, model.MaxVIPsIPv4, "198.51.100.0", netip.MustParseAddr("192.0.2.1"), packet.Group4, 20},
		{"IPv4 v2 with auth data", 2, model.MaxVIPsIPv4, "198.51.100.0", netip.MustParseAddr("192.0.2.1"), packet.Group4, 20},
		{"IPv6 v3", 3, model.MaxVIPsIPv6, "2001:db8:1::1", netip.MustParseAddr("fe80::1"), packet.Group6, 40},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			advert := func(n int) ([]byte, error) {
				a := &packet.Advert{Version: tc.version, VRID: 51, Priority: 100, Interval: time.Second, AuthType: packet.AuthPass}
				if tc.version == 3 {
					a.AuthType = 0
				}
				addr := netip.MustParseAddr(tc.first)
				for range n {
					a.Addrs = append(a.Addrs, addr)
					addr = addr.Next()
				}
				return packet.Encode(a, tc.src, tc.dst)
			}
			b, err := advert(tc.limit)
			if err != nil {
				t.Fatalf("%d VIPs: %v", tc.limit, err)
			}
			if size := tc.ipHeader + len(b); size > mtu {
				t.Errorf("%d VIPs: %d-byte packet does not fit %d", tc.limit, size, mtu)
			}
			b, err = advert(tc.limit + 1)
			if err == nil && tc.ipHeader+len(b) <= mtu {
				t.Errorf("%d VIPs, one over the limit, encode into %d bytes that fit %d: the limit is lower than it need be", tc.limit+1, tc.ipHeader+len(b), mtu)
			}
		})
	}
}
