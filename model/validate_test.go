package model

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// invalidCases lists every file in testdata/invalid with the errors it
// must produce (each a substring of one error line, starting with the
// file:line:col: path: prefix).
var invalidCases = []struct {
	desc string
	file string
	want []string
}{
	// Decoding: keys, types, syntax.
	{"typo in a key suggests the field", "typo-vrid.yaml", []string{`typo-vrid.yaml:10:5: vipGroups.web.vird: unknown field "vird" (did you mean "vrid"?)`}},
	{"singular for plural key", "typo-realservers.yaml", []string{`typo-realservers.yaml:17:5: services.http.realServer: unknown field "realServer" (did you mean "realServers"?)`}},
	{"typo in a top-level section", "typo-section.yaml", []string{`typo-section.yaml:8:1: vipGroup: unknown field "vipGroup" (did you mean "vipGroups"?)`}},
	{"typo inside a VIP mapping", "typo-vip-mapping.yaml", []string{`typo-vip-mapping.yaml:13:9: vipGroups.web.vips[0].devise: unknown field "devise" (did you mean "device"?)`}},
	{"unknown key lists the known ones", "unknown-field.yaml", []string{`unknown-field.yaml:13:5: vipGroups.web.colour: unknown field "colour" (known: advertInterval, auth,`}},
	{"string for an integer", "type-int.yaml", []string{`type-int.yaml:10:11: vipGroups.web.vrid: want an integer, got string "abc"`}},
	{"float for an integer", "type-int-float.yaml", []string{`type-int-float.yaml:10:11: vipGroups.web.vrid: want an integer, got number 51.5`}},
	{"null for an integer", "type-null.yaml", []string{`type-null.yaml:10:10: vipGroups.web.vrid: want an integer, got null`}},
	{"yes is not a boolean", "type-bool.yaml", []string{`type-bool.yaml:13:14: vipGroups.web.preempt: want true or false, got string "yes"`}},
	{"scalar for a list", "type-list.yaml", []string{`type-list.yaml:11:11: vipGroups.web.vips: want a list, got string "192.0.2.10/24"`}},
	{"bare number for a duration", "type-duration.yaml", []string{`type-duration.yaml:13:21: vipGroups.web.advertInterval: "1" is not a duration (write e.g. 1s or 100ms)`}},
	{"list for a keyed section", "type-mapping.yaml", []string{`type-mapping.yaml:1:8: nodes: want a mapping of names to entries, got a list`}},
	{"integer for a string", "type-string.yaml", []string{`type-string.yaml:4:16: nodes.lb1.interface: want a string, got integer 0`}},
	{"mapping for a command", "type-command.yaml", []string{`type-command.yaml:15:14: checks.haproxy.command: want a command string or a list of strings`}},
	{"top level is a list", "top-level-list.yaml", []string{`top-level-list.yaml:1:1: want a mapping of sections (nodes, vipGroups, services, ...) at the top level, got a list`}},
	{"bad indentation", "syntax-indent.yaml", []string{`syntax-indent.yaml:4: invalid YAML: did not find expected key (check the indentation: keys of one mapping start in the same column)`}},
	{"key indented deeper than the first of its mapping", "syntax-indent-deeper.yaml", []string{`syntax-indent-deeper.yaml:5: invalid YAML: mapping values are not allowed in this context (check the indentation: keys of one mapping start in the same column)`}},
	{"unclosed flow list", "syntax-unclosed.yaml", []string{`syntax-unclosed.yaml:11: invalid YAML: did not find expected ',' or ']'`}},
	{"tab indentation", "tabs.yaml", []string{`tabs.yaml:3: invalid YAML: found character that cannot start any token (tabs are not allowed in YAML indentation; use spaces)`}},
	{"empty file", "empty.yaml", []string{`empty.yaml: empty file`}},
	{"comment-only file", "comment-only.yaml", []string{`comment-only.yaml: empty file`}},
	{"duplicate key in a mapping", "duplicate-key.yaml", []string{`duplicate-key.yaml:12:5: vipGroups.web.vrid: key "vrid" appears twice in this mapping: also at line 10`}},
	{"node defined twice in one file", "duplicate-node-key.yaml", []string{`duplicate-node-key.yaml:8:3: nodes.lb1: key "lb1" appears twice in this mapping: also at line 2`}},
	{"two documents in one file", "multiple-documents.yaml", []string{`multiple-documents.yaml:13:1: a second YAML document starts here`}},
	{"merge key that contains itself", "alias-cycle.yaml", []string{`alias-cycle.yaml:16:9: defaults.check: merge alias *c refers to a value that contains it`}},
	{"billion laughs through merge keys", "billion-laughs.yaml", []string{`billion-laughs.yaml:3:32: defaults.check: document expands to too many values`}},
	{"several decoding problems are all reported", "many-decode-problems.yaml", []string{
		`many-decode-problems.yaml:3:5: nodes.lb1.adress: unknown field "adress" (did you mean "address"?)`,
		`many-decode-problems.yaml:7:11: vipGroups.web.vrid: want an integer, got string "fifty"`,
		`many-decode-problems.yaml:8:11: vipGroups.web.vips: want a list, got string "192.0.2.10"`,
		`many-decode-problems.yaml:9:14: vipGroups.web.preempt: want true or false, got string "no"`,
		`many-decode-problems.yaml:13:11: services.http.port: want an integer, got string "80"`,
		`many-decode-problems.yaml:16:9: services.http.realServers[0].wieght: unknown field "wieght" (did you mean "weight"?)`,
	}},

	// VRRP groups.
	{"VRID out of range", "vrid-range.yaml", []string{`vrid-range.yaml:10:5: vipGroups.web.vrid: 300 is out of range 1-255`}},
	{"VRID reused on one interface (other family is fine)", "vrid-clash.yaml", []string{`vrid-clash.yaml:10:5: vipGroups.web.vrid: VRID 51 is also used by group "api" (at vrid-clash.yaml:14:5) for ipv4 on interface eth0`}},
	{"VRID reused via node interfaces", "vrid-clash-interface.yaml", []string{`vrid-clash-interface.yaml:10:5: vipGroups.web.vrid: VRID 51 is also used by group "db" (at vrid-clash-interface.yaml:19:5) for ipv4 on interface eth0`}},
	{"VIP in two groups", "vip-in-two-groups.yaml", []string{`vip-in-two-groups.yaml:11:12: vipGroups.web.vips[0]: VIP 192.0.2.10 is also a VIP of group "api" (at vip-in-two-groups.yaml:15:27)`}},
	{"VIP twice in a group, prefix ignored", "vip-twice-in-group.yaml", []string{`vip-twice-in-group.yaml:11:27: vipGroups.web.vips[1]: VIP 192.0.2.10 is listed twice in this group (also at vip-twice-in-group.yaml:11:12)`}},
	{"unparsable VIPs", "vip-unparsable.yaml", []string{
		`vip-unparsable.yaml:11:12: vipGroups.web.vips[0]: "192.0.2.300/24" is not an address with prefix length`,
		`vip-unparsable.yaml:11:28: vipGroups.web.vips[1]: "192.0.2.11/33" is not an address with prefix length`,
		`vip-unparsable.yaml:11:45: vipGroups.web.vips[2]: "fe80::1%eth0": zones (%eth0) are not allowed`,
		`vip-unparsable.yaml:11:59: vipGroups.web.vips[3]: "0.0.0.0" is not a usable unicast address`,
		`vip-unparsable.yaml:11:68: vipGroups.web.vips[4]: VIP address is required`,
	}},
	{"IPv4 and IPv6 VIPs in one group", "vip-mixed-family.yaml", []string{`vip-mixed-family.yaml:11:27: vipGroups.web.vips[1]: VIP 2001:db8::10 is ipv6 but the group's first VIP is ipv4`}},
	{"VIP labels", "vip-label.yaml", []string{
		`vip-label.yaml:13:34: vipGroups.web.vips[0].label: label "eth1:web" must be "eth0" or start with "eth0:"`,
		`vip-label.yaml:14:36: vipGroups.web.vips[1].label: labels exist only for IPv4 addresses`,
	}},
	{"undefined nodes and groups", "node-undefined.yaml", []string{
		`node-undefined.yaml:12:7: nodes.lb3.overrides.wbe: no VIP group "wbe" (did you mean "web"?)`,
		`node-undefined.yaml:18:18: vipGroups.web.nodes[1]: no node "lb9" is defined`,
		`node-undefined.yaml:24:7: vipGroups.api.priorities.lb4: no node "lb4" is defined`,
		`node-undefined.yaml:31:18: spread.apps.nodes[1]: no node "lb7" is defined`,
	}},
	{"overrides: priority range and membership", "override-not-member.yaml", []string{
		`override-not-member.yaml:7:9: nodes.lb1.overrides.web.priority: priority 300 is out of range 1-254`,
		`override-not-member.yaml:15:7: nodes.lb3.overrides.web: node "lb3" is not a member of group "web", so this override has no effect`,
	}},
	{"node listed twice", "nodes-duplicate.yaml", []string{`nodes-duplicate.yaml:12:23: vipGroups.web.nodes[2]: node "lb1" is listed twice (also at nodes-duplicate.yaml:12:13)`}},
	{"group without nodes", "group-no-nodes.yaml", []string{`group-no-nodes.yaml:9:3: vipGroups.web: group "web" has no nodes`}},
	{"nodes and priorities both set", "nodes-and-priorities.yaml", []string{`nodes-and-priorities.yaml:13:5: vipGroups.web.priorities: set either nodes (a preference order) or priorities, not both`}},
	{"spread sets: own nodes, duplicates, two sets", "spread-conflicts.yaml", []string{
		`spread-conflicts.yaml:18:14: spread.apps.groups[0]: group "a1" sets nodes or priorities but is in spread set "apps"`,
		`spread-conflicts.yaml:18:22: spread.apps.groups[2]: group "a2" is listed twice (also at spread-conflicts.yaml:18:18)`,
		`spread-conflicts.yaml:21:14: spread.more.groups[0]: group "a2" is already in spread set "apps" (at spread-conflicts.yaml:17:3)`,
	}},
	{"sync groups: two sets, unknown group, empty, empty commands", "sync-conflicts.yaml", []string{
		`sync-conflicts.yaml:19:19: syncGroups.front.groups[1]: group "api" is already in sync group "back" (at sync-conflicts.yaml:20:3)`,
		`sync-conflicts.yaml:21:19: syncGroups.back.groups[1]: no VIP group "db"`,
		`sync-conflicts.yaml:23:5: syncGroups.none.groups: a sync group needs at least one group`,
		`sync-conflicts.yaml:25:7: syncGroups.none.notify.master: command is empty`,
		`sync-conflicts.yaml:26:7: syncGroups.none.notify.backup[0]: program name is empty`,
	}},
	{"unknown tracked check", "unknown-check.yaml", []string{`unknown-check.yaml:15:9: vipGroups.web.trackChecks[1].check: no check "hapoxy" is defined under checks (did you mean "haproxy"?)`}},
	{"priority 0 and 255 without owning the VIP", "priority-range.yaml", []string{
		`priority-range.yaml:13:7: vipGroups.web.priorities.lb1: priority 255 is reserved for the address owner`,
		`priority-range.yaml:14:7: vipGroups.web.priorities.lb2: priority 0 is out of range 1-254`,
	}},
	{"VRRP version 4", "version-bad.yaml", []string{`version-bad.yaml:13:5: vipGroups.web.version: VRRP version 4 is not supported: want 2 or 3`}},
	{"version 2 from defaults with IPv6 VIPs", "v2-ipv6.yaml", []string{`v2-ipv6.yaml:3:5: defaults.vrrp.version: VRRP version 2 is IPv4-only but group "web6" has IPv6 VIPs (version from defaults.vrrp)`}},
	{"auth with version 3", "auth-v3.yaml", []string{`auth-v3.yaml:13:5: vipGroups.web.auth: auth is VRRPv2-only`}},
	{"auth type and secret source", "auth-bad.yaml", []string{
		`auth-bad.yaml:14:5: vipGroups.web.auth: set exactly one of secretFile and secretEnv`,
		`auth-bad.yaml:15:7: vipGroups.web.auth.type: auth type "md5" is not supported: want pass`,
	}},
	{"v3 advert interval steps and range", "advert-v3.yaml", []string{
		`advert-v3.yaml:13:5: vipGroups.web.advertInterval: advertInterval 15ms is not valid for VRRP version 3`,
		`advert-v3.yaml:18:5: vipGroups.api.advertInterval: advertInterval 41s is not valid for VRRP version 3`,
	}},
	{"v2 group inheriting a sub-second interval", "advert-v2.yaml", []string{`advert-v2.yaml:16:5: vipGroups.web.version: advertInterval 1.5s (from defaults.vrrp) is not valid for VRRP version 2: want whole seconds 1s..255s`}},
	{"negative and too long durations", "durations-bad.yaml", []string{
		`durations-bad.yaml:13:5: vipGroups.web.advertInterval: -1s must be greater than 0`,
		`durations-bad.yaml:14:5: vipGroups.web.preemptDelay: 2h0m0s is longer than the 1h maximum`,
		`durations-bad.yaml:16:7: vipGroups.web.garp.repeat: 0 is out of range 1-100`,
		`durations-bad.yaml:17:7: vipGroups.web.garp.interval: -10ms must not be negative`,
		`durations-bad.yaml:18:7: vipGroups.web.garp.refreshDelay: -1s must not be negative`,
	}},
	{"unicast IPv6 without address6", "unicast6-no-address6.yaml", []string{`unicast6-no-address6.yaml:14:5: vipGroups.web6.unicast: unicast IPv6 group "web6" needs an address6 on node "lb2" (at unicast6-no-address6.yaml:6:3)`}},
	{"node name, families, interface, duplicate address", "node-bad.yaml", []string{
		`node-bad.yaml:2:3: nodes.lb_1: node name "lb_1" must be a host name label`,
		`node-bad.yaml:3:5: nodes.lb_1.address: "2001:db8::1" must be an IPv4 address`,
		`node-bad.yaml:4:5: nodes.lb_1.address6: "192.0.2.1" must be an IPv6 address`,
		`node-bad.yaml:6:3: nodes.lb2.interface: interface is required`,
		`node-bad.yaml:9:5: nodes.lb3.address: 192.0.2.2 is also the address of node "lb2" (at node-bad.yaml:7:5)`,
		`node-bad.yaml:10:5: nodes.lb3.interface: "eth0/1" is not a valid interface name`,
	}},
	{"no nodes at all", "no-nodes.yaml", []string{`no-nodes.yaml: nodes: a cluster needs at least one node`}},
	{"tracked check settings", "trackcheck-bad.yaml", []string{
		`trackcheck-bad.yaml:15:9: vipGroups.web.trackChecks[0].weight: weight 254 is out of range -253..253`,
		`trackcheck-bad.yaml:18:5: checks.broken.command: command is empty`,
		`trackcheck-bad.yaml:19:5: checks.broken.interval: 0s must be greater than 0`,
		`trackcheck-bad.yaml:20:5: checks.broken.timeout: -2s must be greater than 0`,
		`trackcheck-bad.yaml:21:5: checks.broken.rise: 0 must be at least 1`,
		`trackcheck-bad.yaml:22:5: checks.broken.fall: 0 must be at least 1`,
		`trackcheck-bad.yaml:23:5: checks.broken.weight: weight 300 is out of range -253..253`,
		`trackcheck-bad.yaml:25:5: checks.noprog.command[0]: program name is empty`,
	}},
	{"tracked interfaces", "trackinterface-bad.yaml", []string{
		`trackinterface-bad.yaml:14:9: vipGroups.web.trackInterfaces[0].interface: interface is required`,
		`trackinterface-bad.yaml:16:9: vipGroups.web.trackInterfaces[1].weight: weight -254 is out of range -253..253`,
		`trackinterface-bad.yaml:17:9: vipGroups.web.trackInterfaces[2]: interface "eth1" is tracked twice`,
	}},

	{"several semantic problems are all reported", "many-problems.yaml", []string{
		`many-problems.yaml:8:5: vipGroups.web.vrid: 0 is out of range 1-255`,
		`many-problems.yaml:19:9: services.http.realServers[0].weight: weight -5 is out of range 0-65535`,
	}},

	// Services.
	{"IPv6 real and sorry servers for an IPv4 service", "service-mixed-family.yaml", []string{
		`service-mixed-family.yaml:18:7: services.http.sorryServer.address: real server 2001:db8::200 is ipv6 but the service is ipv4`,
		`service-mixed-family.yaml:21:9: services.http.realServers[1].address: real server 2001:db8::101 is ipv6 but the service is ipv4`,
	}},
	{"vip and fwmark both or neither", "service-vip-and-fwmark.yaml", []string{
		`service-vip-and-fwmark.yaml:14:3: services.both: set either vip (with port) or fwmark, not both`,
		`service-vip-and-fwmark.yaml:20:3: services.neither: set vip (with port) or fwmark`,
	}},
	{"service VIP not owned by a group", "service-vip-not-owned.yaml", []string{
		`service-vip-not-owned.yaml:15:5: services.http.vip: no VIP group owns 192.0.2.99`,
		`service-vip-not-owned.yaml:20:5: services.cidr.vip: "192.0.2.10/24": want an address without prefix length`,
	}},
	{"fwmark range, port, protocol, group, family", "service-fwmark.yaml", []string{
		`service-fwmark.yaml:15:5: services.marked.fwmark: fwmark 4294967296 is out of range 1-4294967295`,
		`service-fwmark.yaml:16:5: services.marked.port: a fwmark service has no port`,
		`service-fwmark.yaml:17:5: services.marked.protocol: a fwmark service has no protocol`,
		`service-fwmark.yaml:18:5: services.marked.group: no VIP group "wbe" (did you mean "web"?)`,
		`service-fwmark.yaml:23:5: services.marked6.family: unknown family "ipv5": want ipv4 or ipv6`,
	}},
	{"fwmark match: protocol, address, ports, non-fwmark service", "fwmark-match.yaml", []string{
		`fwmark-match.yaml:19:9: services.ftp.match[0].protocol: unknown protocol "tpc": want tcp, udp or sctp (did you mean "tcp"?)`,
		`fwmark-match.yaml:20:9: services.ftp.match[0].address: 192.0.2.20 is a VIP of group "web", not of the service's group "ftp"`,
		`fwmark-match.yaml:21:21: services.ftp.match[0].ports[1]: port range 10100-10000 is backwards: write 10000-10100`,
		`fwmark-match.yaml:22:9: services.ftp.match[1]: protocol is required: tcp, udp or sctp`,
		`fwmark-match.yaml:23:9: services.ftp.match[1].ports: ports are required`,
		`fwmark-match.yaml:25:9: services.ftp.match[2].address: "192.0.2.10/32": want an address without prefix length`,
		`fwmark-match.yaml:26:17: services.ftp.match[2].ports[0]: port 0 is out of range 1-65535`,
		`fwmark-match.yaml:26:20: services.ftp.match[2].ports[1]: port 70000 is out of range 1-65535`,
		`fwmark-match.yaml:26:27: services.ftp.match[2].ports[2]: want a port (21) or a range of ports (10000-10100), got string "20-0x20"`,
		`fwmark-match.yaml:26:36: services.ftp.match[2].ports[3]: want a port (21) or a range of ports (10000-10100), got a mapping`,
		`fwmark-match.yaml:34:9: services.web6.match[0].address: 192.0.2.20 is ipv4 but the service is ipv6`,
		`fwmark-match.yaml:36:25: services.web6.match[1].address: 2001:db8::99 is not a VIP of any group`,
		`fwmark-match.yaml:42:5: services.http.match: only a fwmark service has match`,
	}},
	{"fwmark match: traffic selected twice (a VIP service's protocol from the defaults)", "fwmark-match-overlap.yaml", []string{
		`fwmark-match-overlap.yaml:23:54: services.passive.match[0].ports[0]: tcp 192.0.2.10 port 10100-10200 is also selected by service "ftp" (at fwmark-match-overlap.yaml:17:21): a packet can go to one service only`,
		`fwmark-match-overlap.yaml:24:54: services.passive.match[1].ports[0]: udp 192.0.2.10 port 21 is also selected by service "dns" (at fwmark-match-overlap.yaml:33:3)`,
		`fwmark-match-overlap.yaml:27:3: services.rest: tcp 192.0.2.10 port 10050 is also selected by service "ftp" (at fwmark-match-overlap.yaml:17:21)`,
	}},
	{"fwmark match: typos", "fwmark-match-typo.yaml", []string{
		`fwmark-match-typo.yaml:13:5: services.ftp.matches: unknown field "matches" (did you mean "match"?)`,
		`fwmark-match-typo.yaml:18:9: services.ftp.match[0].port: unknown field "port" (did you mean "ports"?)`,
	}},
	{"connectionSync: typos", "connsync-typo.yaml", []string{
		`connsync-typo.yaml:10:7: vipGroups.web.connectionSync.interfce: unknown field "interfce" (did you mean "interface"?)`,
		`connsync-typo.yaml:11:7: vipGroups.web.connectionSync.syncId: unknown field "syncId" (did you mean "syncID"?)`,
	}},
	{"connectionSync: bad values, two syncing groups on one node", "connsync-bad.yaml", []string{
		`connsync-bad.yaml:9:5: vipGroups.web.connectionSync: node "lb1" is also in group "db", which syncs connections too (at connsync-bad.yaml:27:5): the kernel runs one sync daemon per role on a node, so one group of a node may set connectionSync`,
		`connsync-bad.yaml:10:7: vipGroups.web.connectionSync.interface: "eth1:0" is not a valid interface name`,
		`connsync-bad.yaml:11:7: vipGroups.web.connectionSync.syncID: 256 is out of range 0-255`,
		`connsync-bad.yaml:12:7: vipGroups.web.connectionSync.multicastGroup: "192.0.2.99" is not a multicast address (224.0.0.0/4 or ff00::/8)`,
		`connsync-bad.yaml:13:7: vipGroups.web.connectionSync.port: port 70000 is out of range 1-65535`,
		`connsync-bad.yaml:14:7: vipGroups.web.connectionSync.ttl: 300 is out of range 1-255`,
		`connsync-bad.yaml:15:7: vipGroups.web.connectionSync.maxPacketSize: 512 is out of range 1024-65507`,
		`connsync-bad.yaml:22:7: vipGroups.api.connectionSync.maxPacketSize: 65500 is out of range 1024-65487`,
	}},
	{"service port missing or out of range, bad protocol", "service-port-protocol.yaml", []string{
		`service-port-protocol.yaml:14:3: services.noport.port: port 0 is out of range 1-65535 (a VIP service needs a port)`,
		`service-port-protocol.yaml:20:5: services.big.port: port 70000 is out of range 1-65535`,
		`service-port-protocol.yaml:21:5: services.big.protocol: unknown protocol "icmp": want tcp, udp or sctp`,
	}},
	{"same VIP, port and protocol twice", "service-duplicate.yaml", []string{`service-duplicate.yaml:19:3: services.http2: 192.0.2.10 port 80/tcp is also service "http" (at service-duplicate.yaml:14:3)`}},
	{"scheduler and its flags", "service-scheduler.yaml", []string{
		`service-scheduler.yaml:17:5: services.a.scheduler: unknown scheduler "wlcx": want one of rr, wrr, lc, wlc, sh, mh, dh, sed, nq (did you mean "wlc"?)`,
		`service-scheduler.yaml:24:5: services.b.schedulerFlags: scheduler rr takes no flags (only sh and mh do)`,
		`service-scheduler.yaml:31:22: services.c.schedulerFlags[0]: scheduler sh does not take flag "mh-port"`,
		`service-scheduler.yaml:31:40: services.c.schedulerFlags[2]: flag "sh-port" is listed twice`,
	}},
	{"forwarding method", "service-forwarding.yaml", []string{
		`service-forwarding.yaml:15:5: defaults.service.forwarding: unknown forwarding "masq": want nat, dr or tun`,
		`service-forwarding.yaml:20:5: services.a.forwarding: unknown forwarding "direct": want nat, dr or tun`,
	}},
	{"persistence, quorum, no real servers", "service-persistence.yaml", []string{
		`service-persistence.yaml:22:7: services.a.persistence.timeout: timeout is required and must be greater than 0`,
		`service-persistence.yaml:23:7: services.a.persistence.netmask: "255.0.255.0" is not an IPv4 netmask`,
		`service-persistence.yaml:30:7: services.b.persistence.timeout: 1.5s: IPVS counts persistence in whole seconds`,
		`service-persistence.yaml:31:7: services.b.persistence.netmask: "255.255.255.0": an IPv6 service takes a prefix length`,
		`service-persistence.yaml:37:5: services.c.quorum: quorum 0 must be at least 1`,
		`service-persistence.yaml:38:5: services.c.realServers: a service needs at least one real server`,
	}},
	{"real servers: duplicate, address, port, weight, thresholds", "realserver-bad.yaml", []string{
		`realserver-bad.yaml:19:9: services.http.realServers[1]: real server 192.0.2.101 port 80 is listed twice (also at realserver-bad.yaml:18:9)`,
		`realserver-bad.yaml:21:9: services.http.realServers[2].address: "192.0.2.999" is not an IP address`,
		`realserver-bad.yaml:23:9: services.http.realServers[3].port: port 70000 is out of range 1-65535`,
		`realserver-bad.yaml:24:9: services.http.realServers[3].weight: weight 70000 is out of range 0-65535`,
		`realserver-bad.yaml:27:9: services.http.realServers[4].lowerThreshold: lowerThreshold 200 must not exceed upperThreshold 100`,
		`realserver-bad.yaml:29:9: services.http.realServers[5].upperThreshold: -1 must not be negative`,
	}},
	{"real servers naming nodes", "realserver-node.yaml", []string{
		`realserver-node.yaml:5:3: nodes.lb2.interface: interface is required (the link VRRP runs on)`,
		`realserver-node.yaml:26:9: services.http.realServers[0].node: set either node or address, not both`,
		`realserver-node.yaml:28:9: services.http.realServers[1].node: no node named "wbe2" (did you mean "web2"?)`,
		`realserver-node.yaml:29:9: services.http.realServers[2].node: node "lb1" directs this service (it is a member of VIP group "web") and cannot also be its dr or tun real server`,
		`realserver-node.yaml:35:9: services.http6.realServers[0].node: node "web1" has no address6, which this IPv6 service needs`,
		`realserver-node.yaml:40:9: services.marked.realServers[0].node: a dr or tun fwmark service without a group is directed by every node, so node "web2" cannot be its real server`,
		`realserver-node.yaml:42:7: services.marked.sorryServer.node: a dr or tun fwmark service without a group`,
	}},
	{"typo in a real server's node", "typo-realserver-node.yaml", []string{`typo-realserver-node.yaml:18:9: services.http.realServers[0].nodes: unknown field "nodes" (did you mean "node"?)`}},
	{"dr and tun cannot rewrite ports", "realserver-dr-port.yaml", []string{
		`realserver-dr-port.yaml:20:9: services.http.realServers[0].port: port 8080 differs from the service port 80, but dr forwarding cannot rewrite the port`,
		`realserver-dr-port.yaml:28:9: services.marked.realServers[0].port: with tun forwarding of a fwmark service the real server port must be unset`,
	}},
	{"sorry server validated like a real server", "sorry-server-bad.yaml", []string{
		`sorry-server-bad.yaml:18:7: services.http.sorryServer.address: "not-an-address" is not an IP address`,
		`sorry-server-bad.yaml:19:7: services.http.sorryServer.weight: weight -1 is out of range 0-65535`,
	}},

	// Health checks.
	{"check type doubled", "check-types.yaml", []string{
		`check-types.yaml:22:7: services.http.check.http: more than one check type (tcp, http): set exactly one`,
	}},
	{"check timing", "check-timing.yaml", []string{
		`check-timing.yaml:15:5: defaults.check.interval: 0s must be greater than 0`,
		`check-timing.yaml:16:5: defaults.check.timeout: -1s must be greater than 0`,
		`check-timing.yaml:17:5: defaults.check.retries: 0 must be at least 1`,
		`check-timing.yaml:18:5: defaults.check.rise: 0 must be at least 1`,
		`check-timing.yaml:19:5: defaults.check.fall: 0 must be at least 1`,
		`check-timing.yaml:20:5: defaults.check.port: port 70000 is out of range 1-65535`,
	}},
	{"http check path, status, regex", "check-http.yaml", []string{
		`check-http.yaml:16:7: defaults.check.http.path: path "healthz" must start with /`,
		`check-http.yaml:17:16: defaults.check.http.status[0]: HTTP status 99 is out of range 100-599`,
		`check-http.yaml:17:25: defaults.check.http.status[2]: HTTP status 600 is out of range 100-599`,
		`check-http.yaml:18:7: defaults.check.http.bodyRegex: not a valid RE2 regular expression`,
	}},
	{"http status ranges: syntax, order, bounds; spaces and quoted codes accepted", "check-http-status.yaml", []string{
		`check-http-status.yaml:16:30: services.http.check.http.status[2]: HTTP status range 299-200 is backwards: write 200-299`,
		`check-http-status.yaml:16:39: services.http.check.http.status[3]: HTTP status range 500-650 is not within 100-599`,
		`check-http-status.yaml:16:48: services.http.check.http.status[4]: "2xx" is not a status code or range (write e.g. 200 or 200-299)`,
		`check-http-status.yaml:16:53: services.http.check.http.status[5]: want a status code (200) or a range (200-299), got a mapping`,
		`check-http-status.yaml:23:17: services.http.realServers[0].check.https.status[1]: HTTP status range 99-200 is not within 100-599`,
		`check-http-status.yaml:24:17: services.http.realServers[0].check.https.status[2]: want a status code (200) or a range (200-299), got number 1e3`,
	}},
	{"exec command and dns query", "check-exec-dns.yaml", []string{
		`check-exec-dns.yaml:19:9: services.http.check.exec.command: command is empty`,
		`check-exec-dns.yaml:24:13: services.http.realServers[0].check.dns.name: name to query is required`,
		`check-exec-dns.yaml:25:13: services.http.realServers[0].check.dns.type: query type "AXFR" is not supported`,
	}},

	// Refused since issue 9: what the engine or the kernel cannot do.
	{"VIP that is a node's own address", "v-vip-node-address.yaml", []string{
		`v-vip-node-address.yaml:15:12: vipGroups.web.vips[0]: VIP 192.0.2.2 is the own address of node "lb2" (at v-vip-node-address.yaml:6:3): another master would put it on the segment twice; give "lb2" priority 255 in group "web" to make it the address owner, or choose a free address`,
		`v-vip-node-address.yaml:19:12: vipGroups.api.vips[0]: VIP 192.0.2.3 is the own address of node "lb3" (at v-vip-node-address.yaml:9:3), which is not a member of group "api": whichever member is master would put it on the segment twice`,
	}},
	{"more VIPs than one advert carries", "v-vip-limit.yaml", []string{
		`v-vip-limit.yaml:11:5: vipGroups.web6.vips: group "web6" has 78 VIPs, but one VRRP advert carries at most 77 ipv6 addresses: split them over several groups and put those in one sync group so they fail over together`,
	}},
	{"real and sorry server equal to the service", "v-realserver-loop.yaml", []string{
		`v-realserver-loop.yaml:16:7: services.http.sorryServer.address: real server 192.0.2.10 port 80 is the service's own VIP and port: IPVS would send the service's packets back to itself`,
		`v-realserver-loop.yaml:19:9: services.http.realServers[1].address: real server 192.0.2.10 port 80 is the service's own VIP and port`,
	}},
	{"intervals and timeouts below their floors", "v-durations-floor.yaml", []string{
		`v-durations-floor.yaml:9:5: checks.nginx.interval: 1ns is below the 100ms minimum`,
		`v-durations-floor.yaml:10:5: checks.nginx.timeout: 1µs is below the 10ms minimum`,
		`v-durations-floor.yaml:18:7: vipGroups.web.notify.timeout: 9ms is below the 10ms minimum`,
		`v-durations-floor.yaml:21:5: defaults.check.interval: 99ms is below the 100ms minimum`,
		`v-durations-floor.yaml:22:5: defaults.check.timeout: 1ms is below the 10ms minimum`,
	}},
	{"relative program paths", "v-command-relative.yaml", []string{
		`v-command-relative.yaml:8:5: checks.nginx.command[0]: program "./check-nginx" is a relative path, but commands run in /, not beside the description: write it absolute, or as a bare name looked up in PATH`,
		`v-command-relative.yaml:10:5: checks.disk.command: program "scripts/check-disk" is a relative path`,
	}},
	{"bgp: typos", "bgp-typo.yaml", []string{
		`bgp-typo.yaml:9:7: bgp.peers[0].asm: unknown field "asm" (did you mean "asn"?)`,
		`bgp-typo.yaml:10:3: bgp.holdtime: unknown field "holdtime" (did you mean "holdTime"?)`,
		`bgp-typo.yaml:14:5: vipGroups.web.bgpPrefrence: unknown field "bgpPrefrence" (did you mean "bgpPreference"?)`,
	}},
	{"bgp: bad values", "bgp-bad.yaml", []string{
		`bgp-bad.yaml:9:3: bgp.asn: ASN 0 is out of range 1-4294967295`,
		`bgp-bad.yaml:10:3: bgp.holdTime: hold time 2s is out of range 3s-65535s (or 0: no keepalives)`,
		`bgp-bad.yaml:11:3: bgp.keepalive: keepalive 1.5s must be whole seconds, at least 1s`,
		`bgp-bad.yaml:13:5: bgp.bfd.interval: 1ms is below the 10ms minimum`,
		`bgp-bad.yaml:14:5: bgp.bfd.multiplier: multiplier 0 is out of range 1-255`,
		`bgp-bad.yaml:16:7: bgp.peers[0].address: "192.0.2.254/24": want an address without prefix length`,
		`bgp-bad.yaml:18:7: bgp.peers[1].address: 192.0.2.2 is the address of node "lb2", not a router`,
		`bgp-bad.yaml:19:7: bgp.peers[1].asn: ASN 4294967296 is out of range 1-4294967295`,
		`bgp-bad.yaml:20:7: bgp.peers[1].passwordFile: "secrets/bgp" is a relative path: write it absolute`,
		`bgp-bad.yaml:21:7: bgp.peers[1].keepalive: keepalive 5s is more than a third of the hold time 9s: one lost keepalive would drop the session`,
		`bgp-bad.yaml:23:15: bgp.peers[1].nodes[0]: no node "lb3" (did you mean "lb1"?)`,
		`bgp-bad.yaml:25:3: vipGroups.web.vrid: 0 is out of range 1-255`,
		`bgp-bad.yaml:26:5: vipGroups.web.mode: unknown mode "bpg": want vrrp or bgp (did you mean "bgp"?)`,
		`bgp-bad.yaml:31:5: vipGroups.api.vrid: a bgp group has no VRID: it is not a VRRP virtual router`,
		`bgp-bad.yaml:32:5: vipGroups.api.advertInterval: advertInterval is a VRRP setting; group "api" has mode bgp`,
		`bgp-bad.yaml:33:5: vipGroups.api.bgpPreference: unknown preference "lowest": want med or asPath (or none for ECMP)`,
		`bgp-bad.yaml:34:12: vipGroups.api.vips[0]: 203.0.113.20/24: a bgp group announces host routes; write 203.0.113.20/32`,
		`bgp-bad.yaml:36:5: vipGroups.api.connectionSync: connectionSync is a VRRP setting; group "api" has mode bgp`,
		`bgp-bad.yaml:39:5: vipGroups.db.bgpPreference: only a group with mode bgp has bgpPreference`,
	}},
	{"bgp group member without a peer", "bgp-no-peer.yaml", []string{
		`bgp-no-peer.yaml:16:5: vipGroups.web.nodes: node "lb2" is a member of bgp group "web" but no bgp peer lists it in nodes: it would announce to no router`,
	}},
	{"bgp group without a bgp section", "bgp-no-section.yaml", []string{
		`bgp-no-section.yaml:7:5: vipGroups.web.mode: group "web" has mode bgp but the description has no bgp section (asn and peers)`,
	}},
	{"unprintable characters in names", "v-name-unprintable.yaml", []string{
		`v-name-unprintable.yaml:2:1: cluster: cluster name "edge\u200b" has an unprintable character at byte 4`,
		`v-name-unprintable.yaml:8:3: checks.nginx\x1b[2K: check name "nginx\x1b[2K" has an unprintable character at byte 5: names appear in logs, metrics and notify arguments, so only printable characters are allowed`,
		`v-name-unprintable.yaml:11:3: vipGroups.web\n: VIP group name "web\n" has an unprintable character at byte 3`,
		`v-name-unprintable.yaml:16:3: services.http\x00: service name "http\x00" has an unprintable character at byte 4`,
	}},
}

func TestInvalidFixtures(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Load([]File{readFixture(t, filepath.Join("testdata/invalid", tc.file))})
			if err == nil {
				t.Fatalf("Load succeeded; want %q", tc.want)
			}
			assertErrors(t, err.(ErrorList), tc.want)
		})
	}
}

// TestInvalidFixturesAllListed keeps the table and the directory in step:
// a fixture nobody asserts on proves nothing.
func TestInvalidFixturesAllListed(t *testing.T) {
	paths, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, tc := range invalidCases {
		listed[tc.file] = true
	}
	for _, p := range paths {
		if !listed[filepath.Base(p)] {
			t.Errorf("%s has no entry in invalidCases", p)
		}
		delete(listed, filepath.Base(p))
	}
	for f := range listed {
		t.Errorf("invalidCases names %s, which does not exist", f)
	}
}

// TestManyProblemsAllReported checks that validation does not stop at the
// first problem and lists them in file order.
func TestManyProblemsAllReported(t *testing.T) {
	_, err := Load([]File{readFixture(t, "testdata/invalid/many-problems.yaml")})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	var got []string
	for _, e := range err.(ErrorList) {
		got = append(got, e.Error())
	}
	want := []string{
		`many-problems.yaml:8:5: vipGroups.web.vrid: 0 is out of range 1-255`,
		`many-problems.yaml:9:27: vipGroups.web.vips[1]: VIP 2001:db8::10 is ipv6 but the group's first VIP is ipv4: a VRRP instance carries one address family; use two groups`,
		`many-problems.yaml:10:18: vipGroups.web.nodes[1]: no node "lb2" is defined (did you mean "lb1"?)`,
		`many-problems.yaml:11:5: vipGroups.web.advertInterval: advertInterval 5ms is not valid for VRRP version 3: want 10ms..40.95s in multiples of 10ms`,
		`many-problems.yaml:14:5: services.http.vip: no VIP group owns 192.0.2.99: a service's vip must be a VIP of some group`,
		`many-problems.yaml:15:5: services.http.port: port 0 is out of range 1-65535 (a VIP service needs a port)`,
		`many-problems.yaml:16:5: services.http.scheduler: unknown scheduler "fifo": want one of rr, wrr, lc, wlc, sh, mh, dh, sed, nq`,
		`many-problems.yaml:19:9: services.http.realServers[0].weight: weight -5 is out of range 0-65535`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidFixtures(t *testing.T) {
	paths, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(paths) < 4 {
		t.Fatalf("valid fixtures: %v %v", paths, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Load([]File{{Name: filepath.Base(p), Data: data}}); err != nil {
				t.Errorf("Load:\n%v", err)
			}
		})
	}
}

// codeCluster builds a valid cluster without YAML (no Sources).
func codeCluster() *Cluster {
	prio := 255
	return &Cluster{
		Nodes: map[string]*Node{
			"lb1": {Address: "192.0.2.1", Interface: "eth0"},
			"lb2": {Address: "192.0.2.2", Interface: "eth0"},
		},
		VIPGroups: map[string]*VIPGroup{
			"gw": {VRID: 7, VIPs: []VIP{{Address: "192.0.2.1/24"}}, Priorities: map[string]int{"lb1": prio, "lb2": 100}},
		},
		Services: map[string]*Service{
			"dns": {VIP: "192.0.2.1", Port: 53, Protocol: UDP, RealServers: []RealServer{{Address: "192.0.2.53"}}},
		},
	}
}

func TestValidateWithoutSources(t *testing.T) {
	if errs := Validate(codeCluster()); len(errs) > 0 {
		t.Fatalf("valid code-built cluster: %v", errs)
	}
	c := codeCluster()
	c.VIPGroups["gw"].Priorities["lb2"] = 255
	c.Services["dns"].Port = 0
	errs := Validate(c)
	want := ErrorList{
		{Path: "services.dns.port", Msg: "port 0 is out of range 1-65535 (a VIP service needs a port)"},
		{Path: "vipGroups.gw.priorities.lb2", Msg: `priority 255 is reserved for the address owner: node "lb2" does not have one of group "gw"'s VIPs as its address`},
	}
	if errs.Error() != want.Error() {
		t.Errorf("errors:\n%v\nwant:\n%v", errs, want)
	}
	if got := Validate(nil); len(got) != 1 {
		t.Errorf("Validate(nil) = %v, want one error", got)
	}
}

// TestValidateNotifyEmptyCommand distinguishes `master: ""` (an error)
// from no master hook at all, which decode to the same Command.
func TestValidateNotifyEmptyCommand(t *testing.T) {
	base := "nodes:\n  lb1:\n    address: 192.0.2.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 1\n    vips: [192.0.2.10]\n    nodes: [lb1]\n    notify:\n"
	if _, err := Load([]File{{Name: "a.yaml", Data: []byte(base + "      backup: /bin/true\n")}}); err != nil {
		t.Errorf("notify without master: %v", err)
	}
	_, err := Load([]File{{Name: "a.yaml", Data: []byte(base + "      master: \"\"\n")}})
	if err == nil || !strings.Contains(err.Error(), "a.yaml:11:7: vipGroups.web.notify.master: command is empty") {
		t.Errorf("notify master \"\": got %v", err)
	}
}
