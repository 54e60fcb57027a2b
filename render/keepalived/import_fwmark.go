package keepalived

import (
	"bufio"
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// keepalived.conf holds no iptables rules, yet a fwmark service gets no
// packet without them. importMarks turns the mangle PREROUTING MARK rules
// of an iptables-save file into the match of the service with that mark,
// and says where it could not.

// markRule is one converted iptables rule.
type markRule struct {
	mark  int
	match model.MarkMatch
	pos   model.Pos
}

// importMarks sets the match of every fwmark service from opts.IPTablesSave,
// or warns at each fwmark virtual_server that the rules are missing.
func (im *importer) importMarks() error {
	var rules []markRule
	if im.opts.IPTablesSave != "" {
		var err error
		if rules, err = im.readIPTablesSave(im.opts.IPTablesSave); err != nil {
			return err
		}
	}
	used := map[int]bool{}
	for _, n := range im.nodes {
		for _, v := range n.services {
			mark := v.svc.FWMark
			if mark == 0 {
				continue
			}
			used[mark] = true
			for _, r := range rules {
				if r.mark != mark {
					continue
				}
				i := slices.IndexFunc(v.svc.Match, func(m model.MarkMatch) bool {
					return m.Protocol == r.match.Protocol && m.Address == r.match.Address
				})
				if i < 0 {
					v.svc.Match = append(v.svc.Match, model.MarkMatch{Protocol: r.match.Protocol, Address: r.match.Address})
					i = len(v.svc.Match) - 1
				}
				v.svc.Match[i].Ports = append(v.svc.Match[i].Ports, r.match.Ports...)
			}
			switch {
			case v.svc.Match == nil && im.opts.IPTablesSave != "":
				im.warn(v.pos, "virtual_server fwmark %d: %s has no convertible rule setting mark %d: imported without match, so the mark must still be set outside hakeeper", mark, im.opts.IPTablesSave, mark)
			case v.svc.Match == nil:
				im.warn(v.pos, "virtual_server fwmark %d: keepalived.conf holds no iptables rules, so the service is imported without match and its mark must still be set outside hakeeper; give the directors' rules with --iptables-save FILE (iptables-save output) to import them as match", mark)
			}
		}
	}
	for _, r := range rules {
		if !used[r.mark] {
			im.warn(r.pos, "iptables: mark %d is no fwmark virtual_server's; rule not converted", r.mark)
		}
	}
	return nil
}

// readIPTablesSave reads the MARK rules of the mangle table. Rules of
// other tables, and mangle rules that do not set a mark, are not about
// fwmark services; a MARK rule that cannot be converted is a warning.
func (im *importer) readIPTablesSave(path string) ([]markRule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []markRule
	table := ""
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		args := strings.Fields(sc.Text())
		switch {
		case len(args) == 0:
		case strings.HasPrefix(args[0], "*"):
			table = args[0][1:]
		case table == "mangle" && args[0] == "-A" && slices.Contains(args, "MARK"):
			pos := model.Pos{File: path, Line: line}
			r, err := markFromArgs(args[1:])
			if err != nil {
				im.warn(pos, "iptables: %v; rule not converted (write it as match by hand)", err)
				continue
			}
			r.pos = pos
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// markFromArgs converts "PREROUTING -d VIP/32 -p P [-m P] --dport N|A:B
// | -m multiport --dports A,B:C -j MARK --set-mark N | --set-xmark N/0xffffffff".
func markFromArgs(args []string) (markRule, error) {
	var r markRule
	if args[0] != "PREROUTING" {
		return r, fmt.Errorf("chain %s: only PREROUTING marks packets before IPVS sees them", args[0])
	}
	for i := 1; i < len(args); i++ {
		opt, val := args[i], ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		i++
		switch opt {
		case "-d", "--destination":
			p, err := netip.ParsePrefix(val) // iptables-save writes /32
			if err != nil || !p.IsSingleIP() {
				return r, fmt.Errorf("-d %s: not a single address", val)
			}
			r.match.Address = p.Addr().String()
		case "-p", "--protocol":
			r.match.Protocol = model.Protocol(val)
			if !slices.Contains([]model.Protocol{model.TCP, model.UDP, model.SCTP}, r.match.Protocol) {
				return r, fmt.Errorf("-p %s: not tcp, udp or sctp", val)
			}
		case "-m", "--match":
			if val != "multiport" && val != "comment" && val != string(r.match.Protocol) {
				return r, fmt.Errorf("-m %s is not convertible", val)
			}
		case "--dport", "--destination-port", "--dports", "--destination-ports":
			for _, s := range strings.Split(val, ",") {
				lo, hi, _ := strings.Cut(s, ":")
				first, err1 := strconv.ParseUint(lo, 10, 16)
				last, err2 := strconv.ParseUint(cmp.Or(hi, lo), 10, 16)
				if err1 != nil || err2 != nil {
					return r, fmt.Errorf("%s %s: not ports", opt, val)
				}
				r.match.Ports = append(r.match.Ports, model.PortRange{First: int(first), Last: int(last)})
			}
		case "--comment":
		case "-j":
			if val != "MARK" {
				return r, fmt.Errorf("-j %s: not MARK", val)
			}
		case "--set-mark", "--set-xmark":
			mark, mask, masked := strings.Cut(val, "/")
			m, err := strconv.ParseUint(mark, 0, 32)
			if err != nil || m == 0 || masked && mask != "0xffffffff" {
				return r, fmt.Errorf("%s %s: want a whole mark 1-4294967295", opt, val)
			}
			r.mark = int(m)
		default:
			return r, fmt.Errorf("option %s is not convertible", opt)
		}
	}
	switch {
	case r.match.Address == "":
		return r, fmt.Errorf("no -d: hakeeper marks traffic to a VIP")
	case r.match.Protocol == "" || len(r.match.Ports) == 0:
		return r, fmt.Errorf("no -p with --dport or --dports: hakeeper marks by protocol and port")
	case r.mark == 0:
		return r, fmt.Errorf("no --set-mark")
	}
	return r, nil
}
