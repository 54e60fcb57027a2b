package model

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// twoNodes is the start of most descriptions below: lines 1-7.
const twoNodes = `nodes:
  lb1:
    address: 192.0.2.1
    interface: eth0
  lb2:
    address: 192.0.2.2
    interface: eth0
`

// webGroup follows twoNodes: lines 8-12.
const webGroup = `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
`

// ruleCases pin each refusal added for issue 9 with near misses that must
// stay valid, the way a user mistypes: want is one error line's start
// ("" for a valid description).
var ruleCases = []struct {
	desc string
	yaml string
	want string
}{
	// A VIP that is a node's own address.
	{"VIP is a member's address, derived priority", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.2/24]
    nodes: [lb1, lb2]
`, `c.yaml:11:12: vipGroups.web.vips[0]: VIP 192.0.2.2 is the own address of node "lb2" (at c.yaml:5:3): another master would put it on the segment twice; give "lb2" priority 255 in group "web"`},
	{"VIP is a non-member's address", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24, 192.0.2.2/24]
    nodes: [lb1]
`, `c.yaml:11:27: vipGroups.web.vips[1]: VIP 192.0.2.2 is the own address of node "lb2" (at c.yaml:5:3), which is not a member of group "web"`},
	{"VIP is an address6, explicit priority 254", `nodes:
  lb1:
    address: 192.0.2.1
    address6: 2001:db8::1
    interface: eth0
vipGroups:
  web6:
    vrid: 51
    vips: [2001:db8::1/64]
    priorities: {lb1: 254}
`, `c.yaml:9:12: vipGroups.web6.vips[0]: VIP 2001:db8::1 is the own address of node "lb1"`},
	{"owner priority 255 overridden down to 200", twoNodes[:len(twoNodes)-1] + `
    overrides:
      web: {priority: 200}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.2/24]
    priorities: {lb1: 100, lb2: 255}
`, `c.yaml:13:12: vipGroups.web.vips[0]: VIP 192.0.2.2 is the own address of node "lb2"`},
	{"address owner with priority 255 is valid", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.2/24]
    priorities: {lb1: 100, lb2: 255}
`, ""},
	{"address owner by override is valid", twoNodes[:len(twoNodes)-1] + `
    overrides:
      web: {priority: 255}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.2/24]
    priorities: {lb1: 100, lb2: 100}
`, ""},
	{"a VIP next to the node addresses is valid", twoNodes + webGroup, ""},

	// More VIPs than one advert carries.
	{"256 IPv4 VIPs", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [` + vipList("198.51.100.0", 256) + `]
    nodes: [lb1, lb2]
`, `c.yaml:11:5: vipGroups.web.vips: group "web" has 256 VIPs, but one VRRP advert carries at most 255 ipv4 addresses: split them over several groups and put those in one sync group`},
	{"255 IPv4 VIPs are valid", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [` + vipList("198.51.100.0", 255) + `]
    nodes: [lb1, lb2]
`, ""},
	{"78 IPv6 VIPs", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [` + vipList("2001:db8::100", 78) + `]
    nodes: [lb1, lb2]
`, `c.yaml:11:5: vipGroups.web.vips: group "web" has 78 VIPs, but one VRRP advert carries at most 77 ipv6 addresses`},
	{"77 IPv6 VIPs are valid", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [` + vipList("2001:db8::100", 77) + `]
    nodes: [lb1, lb2]
`, ""},

	// A real server that is the service itself.
	{"real server is the VIP, port inherited", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers:
      - address: 192.0.2.10
`, `c.yaml:18:9: services.http.realServers[0].address: real server 192.0.2.10 port 80 is the service's own VIP and port: IPVS would send the service's packets back to itself`},
	{"real server is the VIP, same port written", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers:
      - {address: 192.0.2.101}
      - {address: 192.0.2.10, port: 80}
`, `c.yaml:19:10: services.http.realServers[1].address: real server 192.0.2.10 port 80 is the service's own VIP and port`},
	{"sorry server is the VIP", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    sorryServer: {address: 192.0.2.10}
    realServers: [{address: 192.0.2.101}]
`, `c.yaml:17:19: services.http.sorryServer.address: real server 192.0.2.10 port 80 is the service's own VIP and port`},
	{"the VIP on another port is valid (NAT to a local port)", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers:
      - {address: 192.0.2.10, port: 8080}
`, ""},

	// Intervals and timeouts below their floor.
	{"tracked check interval 1ns", twoNodes + `checks:
  nginx:
    command: /usr/bin/true
    interval: 1ns
`, `c.yaml:11:5: checks.nginx.interval: 1ns is below the 100ms minimum`},
	{"tracked check timeout 1us", twoNodes + `checks:
  nginx:
    command: /usr/bin/true
    timeout: 1us
`, `c.yaml:11:5: checks.nginx.timeout: 1µs is below the 10ms minimum`},
	{"health check interval 1ms", twoNodes + webGroup + `defaults:
  check:
    interval: 1ms
`, `c.yaml:15:5: defaults.check.interval: 1ms is below the 100ms minimum`},
	{"real server check timeout 5ms", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers:
      - address: 192.0.2.101
        check: {timeout: 5ms, tcp: {}}
`, `c.yaml:19:17: services.http.realServers[0].check.timeout: 5ms is below the 10ms minimum`},
	{"notify timeout 1ns", twoNodes + webGroup + `    notify:
      master: /usr/local/bin/notify
      timeout: 1ns
`, `c.yaml:15:7: vipGroups.web.notify.timeout: 1ns is below the 10ms minimum`},
	{"floors themselves are valid", twoNodes + webGroup + `    notify:
      master: /usr/local/bin/notify
      timeout: 10ms
checks:
  nginx:
    command: /usr/bin/true
    interval: 100ms
    timeout: 10ms
defaults:
  check: {interval: 100ms, timeout: 10ms}
`, ""},

	// Relative program paths.
	{"exec form ./script", twoNodes + `checks:
  nginx:
    command: [./check-nginx, --quiet]
`, `c.yaml:10:5: checks.nginx.command[0]: program "./check-nginx" is a relative path, but commands run in /`},
	{"exec form dir/script", twoNodes + webGroup + `    notify:
      master: [bin/notify, master]
`, `c.yaml:14:7: vipGroups.web.notify.master[0]: program "bin/notify" is a relative path`},
	{"shell form ./script", twoNodes + webGroup + `services:
  http:
    vip: 192.0.2.10
    port: 80
    check:
      exec: {command: "../checks/http.sh --fast"}
    realServers: [{address: 192.0.2.101}]
`, `c.yaml:18:14: services.http.check.exec.command: program "../checks/http.sh" is a relative path`},
	{"bare names, absolute paths and shell words are valid", twoNodes + webGroup + `    notify:
      master: pidof nginx && ./not-first-word
      backup: [/usr/local/bin/notify, ./relative-argument]
      fault: "cd /srv && exec ./run"
      stop: "$HOME/bin/stop"
checks:
  nginx:
    command: [pidof, nginx]
`, ""},

	// Unprintable names and strings.
	{"VIP label with a zero-width space", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [{address: 192.0.2.10/24, label: "eth0:a\u200b"}]
    nodes: [lb1, lb2]
`, `c.yaml:11:37: vipGroups.web.vips[0].label: label "eth0:a\u200b" has an unprintable character`},
	{"group name with a newline", twoNodes + `vipGroups:
  "we\nb":
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
`, `c.yaml:9:3: vipGroups.we\nb: VIP group name "we\nb" has an unprintable character at byte 2`},
	{"service name with a zero-width space", twoNodes + webGroup + `services:
  "http\u200b":
    vip: 192.0.2.10
    port: 80
    realServers: [{address: 192.0.2.101}]
`, `c.yaml:14:3: services.http\u200b: service name "http\u200b" has an unprintable character at byte 4`},
	{"check name with an escape character", twoNodes + `checks:
  "nginx\e[31m":
    command: /usr/bin/true
`, `c.yaml:9:3: checks.nginx\x1b[31m: check name "nginx\x1b[31m" has an unprintable character at byte 5`},
	{"sync group name with a tab", twoNodes + webGroup + `syncGroups:
  "front\tend":
    groups: [web]
`, `c.yaml:14:3: syncGroups.front\tend: sync group name "front\tend" has an unprintable character`},
	{"spread set name with a no-break space", twoNodes + `vipGroups:
  a1: {vrid: 61, vips: [192.0.2.61/24]}
spread:
  "apps\u00a0":
    groups: [a1]
    nodes: [lb1, lb2]
`, `c.yaml:11:3: spread.apps\u00a0: spread set name "apps\u00a0" has an unprintable character`},
	{"empty group name", twoNodes + `vipGroups:
  "":
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
`, `c.yaml:9:3: vipGroups.: VIP group name is empty`},
	{"cluster name with a carriage return", "cluster: \"edge\\r\"\n" + twoNodes, `c.yaml:1:1: cluster: cluster name "edge\r" has an unprintable character`},
	{"interface with a control character", `nodes:
  lb1:
    address: 192.0.2.1
    interface: "eth\x01"
`, `c.yaml:4:5: nodes.lb1.interface: "eth\x01" is not a valid interface name`},
	{"user with a newline", twoNodes + `checks:
  nginx:
    command: /usr/bin/true
    user: "nobody\nroot"
`, `c.yaml:11:5: checks.nginx.user: "nobody\nroot" has an unprintable character at byte 6`},
	{"printable non-ASCII names and spaces are valid", "cluster: Edge Zürich\n" + twoNodes + `vipGroups:
  wéb:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
services:
  "http (wéb)":
    vip: 192.0.2.10
    port: 80
    realServers: [{address: 192.0.2.101}]
`, ""},

	// defaults.service.persistence serves services of either family, so
	// its netmask is checked against each service that inherits it.
	{"default prefix length longer than an IPv4 service's address", twoNodes + webGroup + persistenceDefault("64") + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers: [{address: 192.0.2.101}]
`, `c.yaml:17:7: defaults.service.persistence.netmask: prefix length 64 is outside 0-32`},
	{"default dotted netmask for an IPv6 service", twoNodes + webGroup + persistenceDefault("255.255.255.0") + `services:
  mark6:
    fwmark: 6
    family: ipv6
    realServers: [{address: 2001:db8::101}]
`, `c.yaml:17:7: defaults.service.persistence.netmask: "255.255.255.0" is not a netmask: write 255.255.255.0 (IPv4) or a prefix length`},
	{"default prefix length within an IPv4 service's address is valid", twoNodes + webGroup + persistenceDefault("24") + `services:
  http:
    vip: 192.0.2.10
    port: 80
    realServers: [{address: 192.0.2.101}]
`, ""},
}

// vipList writes n consecutive addresses from first, as a flow list body.
func vipList(first string, n int) string {
	a := netip.MustParseAddr(first)
	out := make([]string, n)
	for i := range out {
		out[i] = a.String()
		a = a.Next()
	}
	return strings.Join(out, ", ")
}

func TestValidateRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Load([]File{{Name: "c.yaml", Data: []byte(tc.yaml)}})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused a valid description:\n%v", err)
			case tc.want == "":
			case err == nil:
				t.Fatalf("accepted; want %s", tc.want)
			default:
				assertErrors(t, err.(ErrorList), []string{tc.want})
			}
		})
	}
}

// An error path holding a control character is escaped, so each error
// stays one line.
func TestErrorPathIsOneLine(t *testing.T) {
	_, err := Load([]File{{Name: "c.yaml", Data: []byte(twoNodes + `vipGroups:
  "we\nb":
    vrid: 300
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
`)}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, e := range err.(ErrorList) {
		if strings.ContainsAny(e.Error(), "\n\r") {
			t.Errorf("error spans lines: %q", e.Error())
		}
	}
	if !strings.Contains(err.Error(), `c.yaml:10:5: vipGroups.we\nb.vrid: 300 is out of range 1-255`) {
		t.Errorf("got:\n%v", err)
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		desc string
		yaml string
		want []string
	}{
		{"prefix off the nodes' subnet", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [10.9.9.9/24, 192.0.2.10/24, 10.9.9.10, {address: 10.8.8.8/24, device: eth1}]
    nodes: [lb1, lb2]
`, []string{`c.yaml:11:12: vipGroups.web.vips[0]: prefix 10.9.9.0/24 of VIP 10.9.9.9 holds none of the group's node addresses (192.0.2.1, 192.0.2.2): the kernel will route 10.9.9.0/24 to this interface; write /32 if the address is routed to the nodes, or correct the prefix length`}},
		{"IPv6, members found through a spread set", `nodes:
  lb1:
    address: 192.0.2.1
    address6: 2001:db8::1
    interface: eth0
  lb2:
    address: 192.0.2.2
    interface: eth0
vipGroups:
  web6:
    vrid: 51
    vips: [2001:db8:1::10/64]
spread:
  apps:
    groups: [web6]
    nodes: [lb1, lb2]
`, []string{`c.yaml:12:12: vipGroups.web6.vips[0]: prefix 2001:db8:1::/64 of VIP 2001:db8:1::10 holds none of the group's node addresses (2001:db8::1)`}},
		{"fwmark service without match: the mark is set elsewhere", twoNodes + `vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
services:
  marked:
    fwmark: 7
    realServers: [{address: 198.51.100.1}]
  declared:
    fwmark: 8
    match: [{protocol: tcp, address: 192.0.2.10, ports: [21]}]
    realServers: [{address: 198.51.100.1}]
`, []string{`c.yaml:15:5: services.marked.fwmark: no match: hakeeper does not mark this service's packets, so firewall rules outside hakeeper must set mark 7`}},
		{"bgp group: a scheduler that reshuffles when the director set changes", twoNodes + `bgp:
  asn: 64600
  peers: [{address: 192.0.2.254, asn: 64512}]
vipGroups:
  web:
    mode: bgp
    vips: [203.0.113.10/32]
    nodes: [lb1, lb2]
services:
  http:
    vip: 203.0.113.10
    port: 80
    scheduler: wlc
    realServers: [{address: 198.51.100.1}]
  https:
    vip: 203.0.113.10
    port: 443
    realServers: [{address: 198.51.100.1}]
`, []string{`c.yaml:20:5: services.http.scheduler: scheduler wlc picks a real server per connection: when the routers move a flow of bgp group "web" to another director (a director came or went), it lands on another real server and breaks; use mh`}},
		{"nothing to compare with: no address6, another interface", `nodes:
  lb1:
    address: 192.0.2.1
    interface: eth0
vipGroups:
  web6:
    vrid: 51
    vips: [2001:db8:1::10/64]
    nodes: [lb1]
  dmz:
    vrid: 52
    interface: eth1
    vips: [198.51.100.10/24]
    nodes: [lb1]
`, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, err := Load([]File{{Name: "c.yaml", Data: []byte(tc.yaml)}})
			if err != nil {
				t.Fatalf("a warning is not an error:\n%v", err)
			}
			ws := Warnings(c)
			if len(ws) != len(tc.want) {
				t.Fatalf("warnings:\n%v\nwant %d", ws, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ws[i].Error(), w) {
					t.Errorf("warning %d:\n%s\nwant:\n%s", i, ws[i], w)
				}
			}
		})
	}
}

// The refusals each name the limit in docs/format.md; keep the numbers
// the docs state in step with the code.
func TestRuleLimitsInDocs(t *testing.T) {
	doc := strings.Join(strings.Fields(string(readFixture(t, "../docs/format.md").Data)), " ")
	for _, s := range []string{
		fmt.Sprintf("at most %d IPv4", MaxVIPsIPv4),
		fmt.Sprintf("%d IPv6", MaxVIPsIPv6),
		MinCheckInterval.String(),
		MinTimeout.String(),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/format.md does not say %q", s)
		}
	}
}

// persistenceDefault follows webGroup: lines 13-17, the netmask on 17.
func persistenceDefault(netmask string) string {
	return `defaults:
  service:
    persistence:
      timeout: 60s
      netmask: "` + netmask + `"
`
}

// A default netmask that fits neither family is reported once, where it
// is written, not again for each service that inherits it.
func TestDefaultNetmaskReportedOnce(t *testing.T) {
	for _, netmask := range []string{"255.0.255.0", "0.0.0.0", "garbage", "0"} {
		for _, service := range []string{`  web:
    vip: 192.0.2.10
    port: 80
    realServers: [{address: 192.0.2.101}]
`, `  mark6:
    fwmark: 6
    family: ipv6
    realServers: [{address: 2001:db8::101}]
`} {
			_, err := Load([]File{{Name: "c.yaml", Data: []byte(twoNodes + webGroup + persistenceDefault(netmask) + "services:\n" + service)}})
			var at []string
			for _, e := range err.(ErrorList) {
				if e.Path == "defaults.service.persistence.netmask" {
					at = append(at, e.Msg)
				}
			}
			if len(at) != 1 {
				t.Errorf("netmask %q, service %s: %d errors at the netmask, want 1:\n%s", netmask, strings.Fields(service)[0], len(at), strings.Join(at, "\n"))
			}
		}
	}
}
