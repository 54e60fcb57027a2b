package model

import (
	"fmt"
	"strings"
	"testing"
)

// TestLoopbackDestinations: real and sorry servers may be loopback
// addresses (IPVS delivers to the director's own addresses, e.g. a
// maintenance page on 127.0.0.1); other unusable addresses stay errors.
func TestLoopbackDestinations(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string // empty: valid
	}{
		{"127.0.0.1", ""},
		{"127.0.0.2", ""},
		{"::1", ""},
		{"0.0.0.0", `"0.0.0.0" is not a usable unicast address`},
		{"224.0.0.1", `"224.0.0.1" is not a usable unicast address`},
		{"::ffff:127.0.0.1", `"::ffff:127.0.0.1": write IPv4 addresses in IPv4 form`},
	}
	for _, tc := range tests {
		for _, field := range []string{"sorryServer", "realServers[0]"} {
			t.Run(tc.addr+" as "+field, func(t *testing.T) {
				// The other server and the VIP are of the address's family.
				vip, pfx, other := "192.0.2.10", "192.0.2.10/24", "198.51.100.11"
				if strings.Contains(tc.addr, ":") && !strings.Contains(tc.addr, ".") {
					vip, pfx, other = "2001:db8::10", "2001:db8::10/64", "2001:db8:1::11"
				}
				rs, sorry := other, tc.addr
				if field != "sorryServer" {
					rs, sorry = tc.addr, other
				}
				doc := fmt.Sprintf(`nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
vipGroups:
  web: {vrid: 51, vips: ["%s"], nodes: [lb1]}
services:
  http:
    vip: "%s"
    port: 80
    sorryServer: {address: "%s"}
    realServers: [{address: "%s"}]
`, pfx, vip, sorry, rs)
				_, err := Load([]File{{Name: "c.yaml", Data: []byte(doc)}})
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("want valid, got %v", err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "services.http."+field+".address: "+tc.wantErr)):
					t.Errorf("want error %q at services.http.%s.address, got %v", tc.wantErr, field, err)
				}
			})
		}
	}
}
