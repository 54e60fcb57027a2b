package keepalived

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// checkTiming is a checker's timing as keepalived inherits it: checker
// over real server over virtual server over keepalived's defaults.
type checkTiming struct {
	delayLoop, connectTimeout *model.Duration
	retry                     *int
	virtualhost               string
}

// readTiming consumes a timing keyword, reporting whether it was one.
func (im *importer) readTiming(s *Stmt, t *checkTiming, where string) (bool, error) {
	switch s.Keyword {
	case "delay_loop":
		v, err := secondsArg(s)
		t.delayLoop = &v
		return true, err
	case "connect_timeout":
		v, err := secondsArg(s)
		t.connectTimeout = &v
		return true, err
	case "retry", "nb_get_retry":
		v, err := intArg(s)
		t.retry = &v
		return true, err
	case "virtualhost":
		v, err := oneArg(s)
		t.virtualhost = v
		return true, err
	case "delay_before_retry", "warmup":
		im.warn(s.Pos, "%s: %s is not mapped (hakeeper retries at once, within the interval)", where, s.Keyword)
		return true, nil
	}
	return false, nil
}

func (t checkTiming) over(parent checkTiming) checkTiming {
	if t.delayLoop == nil {
		t.delayLoop = parent.delayLoop
	}
	if t.connectTimeout == nil {
		t.connectTimeout = parent.connectTimeout
	}
	if t.retry == nil {
		t.retry = parent.retry
	}
	if t.virtualhost == "" {
		t.virtualhost = parent.virtualhost
	}
	return t
}

func (im *importer) readService(n *nodeConf, b *Stmt) error {
	if len(b.Args) < 1 {
		return argErr(b, "missing address and port, or fwmark")
	}
	svc := &model.Service{}
	vc := &vsConf{pos: b.Pos, svc: svc, rsPos: map[string]model.Pos{}}
	switch {
	case b.Args[0] == "fwmark" && len(b.Args) == 2:
		m, err := strconv.ParseUint(b.Args[1], 10, 32)
		if err != nil || m == 0 {
			return argErr(b, "fwmark %q is not a number 1..4294967295", b.Args[1])
		}
		svc.FWMark = int(m)
		vc.key = "fwmark-" + b.Args[1]
		vc.name = vc.key
	case b.Args[0] == "group":
		im.warn(b.Pos, "virtual_server group %s is not mapped: write one service per address (skipped)", strings.Join(b.Args[1:], " "))
		return nil
	case len(b.Args) == 2:
		a, err := netip.ParseAddr(b.Args[0])
		if err != nil {
			return argErr(b, "%q is not an IP address", b.Args[0])
		}
		p, err := strconv.Atoi(b.Args[1])
		if err != nil || p < 1 || p > 65535 {
			return argErr(b, "port %q is not 1..65535", b.Args[1])
		}
		svc.VIP, svc.Port = a.String(), p
	default:
		return argErr(b, "want ADDRESS PORT or fwmark N")
	}
	where := "virtual_server " + strings.Join(b.Args, " ")
	var timing checkTiming
	drainAll := false
	var rsStmts []*Stmt
	for _, s := range b.Block {
		if ok, err := im.readTiming(s, &timing, where); ok {
			if err != nil {
				return err
			}
			continue
		}
		var err error
		switch s.Keyword {
		case "lb_algo", "lvs_sched":
			svc.Scheduler, err = oneArg(s)
		case "lb_kind", "lvs_method":
			var v string
			if v, err = oneArg(s); err == nil {
				switch strings.ToUpper(v) {
				case "NAT":
					svc.Forwarding = model.NAT
				case "DR":
					svc.Forwarding = model.DR
				case "TUN":
					svc.Forwarding = model.Tunnel
					if len(s.Args) > 1 {
						im.warn(s.Pos, "%s: tunnel options %q are not mapped (ipip only)", where, strings.Join(s.Args[1:], " "))
					}
				default:
					err = argErr(s, "%q is not NAT, DR or TUN", v)
				}
			}
		case "protocol":
			var v string
			if v, err = oneArg(s); err == nil {
				svc.Protocol = model.Protocol(strings.ToLower(v))
			}
		case "persistence_timeout":
			t := model.Duration(kaPersistenceTimeout)
			if len(s.Args) > 0 {
				t, err = secondsArg(s)
			}
			if svc.Persistence == nil {
				svc.Persistence = &model.Persistence{}
			}
			svc.Persistence.Timeout = t
		case "persistence_granularity":
			if svc.Persistence == nil {
				svc.Persistence = &model.Persistence{Timeout: model.Duration(kaPersistenceTimeout)}
			}
			svc.Persistence.Netmask, err = oneArg(s)
		case "quorum":
			var v int
			v, err = intArg(s)
			svc.Quorum = &v
		case "sorry_server":
			svc.SorryServer, err = realServerAddr(s, svc)
		case "inhibit_on_failure":
			drainAll, err = boolArg(s)
		case "alpha":
			var v bool
			v, err = boolArg(s)
			svc.StartDown = &v
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			svc.SchedulerFlags = append(svc.SchedulerFlags, s.Keyword)
		case "ip_family":
			var v string
			if v, err = oneArg(s); err == nil && v == "inet6" {
				svc.Family = model.IPv6
			}
		case "real_server":
			rsStmts = append(rsStmts, s)
		default:
			im.unmapped(s, where)
		}
		if err != nil {
			return err
		}
	}
	if svc.Protocol == "" {
		vc.noProto = true
		if svc.FWMark == 0 {
			im.warn(b.Pos, "%s: no protocol: keepalived 2.2.7 then defaults to UDP, other versions to TCP; imported as tcp (write protocol explicitly)", where)
		}
	}
	if svc.FWMark != 0 {
		svc.Protocol = "" // a fwmark service matches every protocol
	}
	if svc.FWMark == 0 {
		proto := string(svc.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		vc.key = proto + "-" + strings.NewReplacer(".", "-", ":", "-").Replace(svc.VIP) + "-" + strconv.Itoa(svc.Port)
		vc.name = vc.key
	}
	if name, group := serviceNameFromComment(b.Comment); name != "" {
		vc.name = name
		if svc.FWMark != 0 {
			svc.Group = group
		}
	}
	timing = timing.over(checkTiming{delayLoop: ptr(model.Duration(kaDelayLoop)), connectTimeout: ptr(model.Duration(kaConnectTimeout))})

	var checks []*model.Check
	drained := 0
	for _, s := range rsStmts {
		rs, chk, drain, err := im.readRealServer(s, svc, timing, where)
		if err != nil {
			return err
		}
		if drain {
			drained++
		}
		key := rs.Address + ":" + strconv.Itoa(rs.Port)
		vc.rsPos[key] = s.Pos
		svc.RealServers = append(svc.RealServers, *rs)
		checks = append(checks, chk)
	}
	switch {
	case drainAll || drained == len(rsStmts) && drained > 0:
		svc.Drain = ptr(true)
	case drained > 0:
		im.warn(b.Pos, "%s: inhibit_on_failure on %d of %d real servers: hakeeper drains per service; imported as drain: true", where, drained, len(rsStmts))
		svc.Drain = ptr(true)
	}
	// One check for the whole service when every server has the same.
	same := len(checks) > 0
	for _, c := range checks[min(1, len(checks)):] {
		if !reflect.DeepEqual(c, checks[0]) {
			same = false
		}
	}
	if same && checks[0] == nil {
		// keepalived does not check a server without a checker: it is always up.
		svc.Check = &model.Check{None: &model.NoCheck{}}
	} else if same {
		svc.Check = checks[0]
	} else if !same {
		for i, c := range checks {
			if c == nil {
				c = &model.Check{None: &model.NoCheck{}}
			}
			svc.RealServers[i].Check = c
		}
	}
	n.services = append(n.services, vc)
	return nil
}

var serviceNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// serviceNameFromComment reads the comment Render writes on a
// virtual_server line: "# NAME" or, for a fwmark service tied to a VIP
// group, "# NAME group GROUP". Any other comment names nothing.
func serviceNameFromComment(c string) (name, group string) {
	f := strings.Fields(strings.ToLower(c))
	if len(f) == 0 || !serviceNameRe.MatchString(f[0]) || len(f[0]) > 63 {
		return "", ""
	}
	if len(f) == 3 && f[1] == "group" {
		return f[0], f[2]
	}
	if len(f) != 1 {
		return "", ""
	}
	return f[0], ""
}

func realServerAddr(s *Stmt, svc *model.Service) (*model.RealServer, error) {
	if len(s.Args) < 1 {
		return nil, argErr(s, "missing address")
	}
	a, err := netip.ParseAddr(s.Args[0])
	if err != nil {
		return nil, argErr(s, "%q is not an IP address", s.Args[0])
	}
	rs := &model.RealServer{Address: a.String()}
	if len(s.Args) > 1 {
		p, err := strconv.Atoi(s.Args[1])
		if err != nil || p < 1 || p > 65535 {
			return nil, argErr(s, "port %q is not 1..65535", s.Args[1])
		}
		if p != svc.Port {
			rs.Port = p
		}
	}
	return rs, nil
}

func (im *importer) readRealServer(b *Stmt, svc *model.Service, parent checkTiming, vsWhere string) (*model.RealServer, *model.Check, bool, error) {
	rs, err := realServerAddr(b, svc)
	if err != nil {
		return nil, nil, false, err
	}
	where := vsWhere + " real_server " + strings.Join(b.Args, " ")
	var timing checkTiming
	drain := false
	var check *model.Check
	for _, s := range b.Block {
		if ok, err := im.readTiming(s, &timing, where); ok {
			if err != nil {
				return nil, nil, false, err
			}
			continue
		}
		switch s.Keyword {
		case "weight":
			v, err := intArg(s)
			if err != nil {
				return nil, nil, false, err
			}
			rs.Weight = &v
		case "uthreshold", "lthreshold":
			v, err := intArg(s)
			if err != nil {
				return nil, nil, false, err
			}
			if s.Keyword == "uthreshold" {
				rs.UpperThreshold = v
			} else {
				rs.LowerThreshold = v
			}
		case "inhibit_on_failure":
			if drain, err = boolArg(s); err != nil {
				return nil, nil, false, err
			}
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK":
			if check != nil {
				im.warn(s.Pos, "%s: a second checker (%s) is not mapped: hakeeper runs one check per real server", where, s.Keyword)
				continue
			}
			if check, err = im.readChecker(s, rs, timing.over(parent), where); err != nil {
				return nil, nil, false, err
			}
		default:
			im.unmapped(s, where)
		}
	}
	return rs, check, drain, nil
}

func (im *importer) readChecker(b *Stmt, rs *model.RealServer, parent checkTiming, rsWhere string) (*model.Check, error) {
	where := rsWhere + " " + b.Keyword
	var timing checkTiming
	c := &model.Check{}
	var http *model.HTTPCheck
	switch b.Keyword {
	case "TCP_CHECK":
		c.TCP = &model.TCPCheck{}
	case "HTTP_GET":
		http = &model.HTTPCheck{}
		c.HTTP = http
	case "SSL_GET":
		// keepalived's SSL_GET never verifies the server certificate.
		http = &model.HTTPCheck{InsecureSkipVerify: true}
		c.HTTPS = http
	case "MISC_CHECK":
		c.Exec = &model.ExecCheck{}
		im.warn(b.Pos, "%s: hakeeper appends the real server's address and port to the command's arguments; keepalived did not", where)
	case "DNS_CHECK":
		c.DNS = &model.DNSCheck{Name: ".", Type: "SOA"}
	case "UDP_CHECK":
		c.UDP = &model.UDPCheck{}
	}
	urls := 0
	for _, s := range b.Block {
		if ok, err := im.readTiming(s, &timing, where); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var err error
		switch {
		case s.Keyword == "connect_port":
			c.Port, err = intArg(s)
		case s.Keyword == "url" && http != nil:
			urls++
			if urls > 1 {
				im.warn(s.Pos, "%s: only the first url is checked by hakeeper (ignored)", where)
				continue
			}
			err = im.readURL(s, http, where)
		case s.Keyword == "enable_sni" && b.Keyword == "SSL_GET":
			// hakeeper sends SNI (the host) by default.
		case s.Keyword == "misc_path" && c.Exec != nil:
			var v string
			if v, err = oneArg(s); err == nil {
				c.Exec.Command = importCommand(v)
			}
		case s.Keyword == "misc_timeout" && c.Exec != nil:
			var v model.Duration
			v, err = secondsArg(s)
			timing.connectTimeout = &v
		case s.Keyword == "user" && c.Exec != nil:
			c.Exec.User, err = oneArg(s)
		case s.Keyword == "name" && c.DNS != nil:
			c.DNS.Name, err = oneArg(s)
		case s.Keyword == "type" && c.DNS != nil:
			var v string
			v, err = oneArg(s)
			c.DNS.Type = strings.ToUpper(v)
		case s.Keyword == "payload" && c.UDP != nil:
			c.UDP.Payload, err = hexArg(s)
		case s.Keyword == "require_reply" && c.UDP != nil:
			c.UDP.RequireReply = true
			c.UDP.Expect, err = hexArg(s)
		default:
			im.unmapped(s, where)
		}
		if err != nil {
			return nil, err
		}
	}
	if c.Exec != nil && c.Exec.Command.IsZero() {
		return nil, fmt.Errorf("%s: MISC_CHECK without misc_path", b.Pos)
	}
	t := timing.over(parent)
	if http != nil && t.virtualhost != "" && http.Host == "" {
		http.Host = t.virtualhost
	}
	c.Interval = t.delayLoop
	c.Timeout = t.connectTimeout
	retry := kaRetry
	switch {
	case t.retry != nil:
		retry = *t.retry
	case c.DNS != nil:
		retry = kaDNSRetry
	case c.Exec != nil:
		retry = kaMiscRetry
	}
	if retry < 1 {
		// hakeeper counts retries from 1; a single attempt is the closest.
		retry = 1
		if t.retry != nil || c.Exec == nil {
			im.warn(b.Pos, "%s: retry 0 imported as retries: 1", where)
		}
	}
	if retry != model.DefaultCheckRetries {
		c.Retries = &retry
	}
	if c.Port == rs.Port && c.Port != 0 {
		c.Port = 0
	}
	return c, nil
}

func (im *importer) readURL(b *Stmt, h *model.HTTPCheck, where string) error {
	for _, s := range b.Block {
		switch s.Keyword {
		case "path":
			v, err := oneArg(s)
			if err != nil {
				return err
			}
			if v != model.DefaultHTTPPath {
				h.Path = v
			}
		case "status_code":
			for _, a := range s.Args {
				r, err := model.ParseStatusRange(a)
				if err != nil || r.First > r.Last {
					return argErr(s, "%q is not a status code or range", a)
				}
				h.Status = append(h.Status, r)
			}
		case "virtualhost":
			v, err := oneArg(s)
			if err != nil {
				return err
			}
			h.Host = v
		case "regex":
			v, err := oneArg(s)
			if err != nil {
				return err
			}
			h.BodyRegex = v
		case "digest":
			im.warn(s.Pos, "%s url: digest (MD5 of the body) is not mapped: use body or bodyRegex", where)
		default:
			im.unmapped(s, where+" url")
		}
	}
	h.Status = h.Status.Normalize()
	if len(h.Status) == 0 {
		// keepalived's default when neither status_code nor digest is set: any 2xx.
		h.Status = model.StatusCodes{{First: 200, Last: 299}}
	} else if len(h.Status) == 1 && h.Status[0] == model.StatusCode(model.DefaultHTTPStatus) {
		h.Status = nil
	}
	return nil
}

// hexArg decodes keepalived's hex string (blanks allowed between bytes).
func hexArg(s *Stmt) (string, error) {
	h := strings.Join(s.Args, "")
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", argErr(s, "%q: hakeeper reads only whole hex bytes (e.g. 0a1b2c)", h)
	}
	return string(b), nil
}
