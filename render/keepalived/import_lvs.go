package keepalived

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"slices"
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

// timingKeys are the check timing keywords virtual_server, real_server
// and checker blocks share; the innermost setting wins.
var timingKeys = map[string]handler[timed]{
	"delay_loop":         key(secondsArg, func(t *timed, v model.Duration) { t.delayLoop = &v }),
	"connect_timeout":    key(secondsArg, func(t *timed, v model.Duration) { t.connectTimeout = &v }),
	"retry":              key(intArg, func(t *timed, v int) { t.retry, t.retryFrom1x = &v, false }),
	"nb_get_retry":       (*importer).ignoredRetry,
	"virtualhost":        key(oneArg, func(t *timed, v string) { t.virtualhost = v }),
	"delay_before_retry": retryDelayKey,
	"warmup":             retryDelayKey,
}

// ignoredRetry reads nb_get_retry outside HTTP_GET and SSL_GET, where
// keepalived 2.x ignores it as an unknown keyword (1.x read it only in
// those two). The file's intent is kept, but the keepalived being
// replaced did not retry that often. retry wins over it.
func (im *importer) ignoredRetry(t *timed, s *Stmt) error {
	v, err := intArg(s)
	if err != nil {
		return err
	}
	if t.retry != nil && !t.retryFrom1x {
		im.warn(s.Pos, "%s: nb_get_retry is ignored, as keepalived 2.x does here (unknown keyword; retry is set)", t.where)
		return nil
	}
	im.warn(s.Pos, "%s: nb_get_retry %d is ignored by keepalived 2.x here (unknown keyword; only HTTP_GET and SSL_GET read it), so the keepalived being replaced did not retry %d times; imported as retries: %d, as the file intends (drop it to keep keepalived's behaviour)", t.where, v, v, v)
	t.retry, t.retryFrom1x = &v, true
	return nil
}

func retryDelayKey(im *importer, t *timed, s *Stmt) error {
	im.warn(s.Pos, "%s: %s is not mapped (hakeeper retries at once, within the interval)", t.where, s.Keyword)
	return nil
}

// timed is a block's own check timing and the block's name for warnings.
type timed struct {
	checkTiming
	where string
	// retryFrom1x: retry was set by an ignored nb_get_retry.
	retryFrom1x bool
}

func (t checkTiming) over(parent checkTiming) checkTiming {
	return checkTiming{
		delayLoop:      cmp.Or(t.delayLoop, parent.delayLoop),
		connectTimeout: cmp.Or(t.connectTimeout, parent.connectTimeout),
		retry:          cmp.Or(t.retry, parent.retry),
		virtualhost:    cmp.Or(t.virtualhost, parent.virtualhost),
	}
}

// vsRead is a virtual_server block being read.
type vsRead struct {
	timed
	vc       *vsConf
	svc      *model.Service
	drainAll bool
	// Real and sorry servers are read after the block: their ports
	// depend on the forwarding and their checks inherit the service's
	// timing, wherever in the block these are set.
	rsStmts []*Stmt
	sorry   *Stmt
}

// serviceKeys reads the keywords of a virtual_server block.
var serviceKeys = withKeys(map[string]handler[vsRead]{
	"lb_algo":    key(oneArg, func(v *vsRead, s string) { v.svc.Scheduler = s }),
	"lvs_sched":  key(oneArg, func(v *vsRead, s string) { v.svc.Scheduler = s }),
	"lb_kind":    (*importer).readForwarding,
	"lvs_method": (*importer).readForwarding,
	"protocol":   key(oneArg, func(v *vsRead, s string) { v.svc.Protocol = model.Protocol(strings.ToLower(s)) }),
	"persistence_timeout": func(_ *importer, v *vsRead, s *Stmt) error {
		t := model.Duration(kaPersistenceTimeout)
		if len(s.Args) > 0 {
			var err error
			if t, err = secondsArg(s); err != nil {
				return err
			}
		}
		v.persistence().Timeout = t
		return nil
	},
	"persistence_granularity": key(oneArg, func(v *vsRead, s string) { v.persistence().Netmask = s }),
	"quorum":                  key(intArg, func(v *vsRead, n int) { v.svc.Quorum = &n }),
	"sorry_server": func(_ *importer, v *vsRead, s *Stmt) error {
		v.sorry = s
		return nil
	},
	"inhibit_on_failure": key(boolArg, func(v *vsRead, b bool) { v.drainAll = b }),
	"alpha":              key(boolArg, func(v *vsRead, b bool) { v.svc.StartDown = &b }),
	"sh-port":            schedulerFlagKey,
	"sh-fallback":        schedulerFlagKey,
	"mh-port":            schedulerFlagKey,
	"mh-fallback":        schedulerFlagKey,
	"ip_family": key(oneArg, func(v *vsRead, s string) {
		if s == "inet6" {
			v.svc.Family = model.IPv6
		}
	}),
	"real_server": func(_ *importer, v *vsRead, s *Stmt) error {
		v.rsStmts = append(v.rsStmts, s)
		return nil
	},
}, timingKeys, func(v *vsRead) *timed { return &v.timed })

// persistence is the service's persistence, with keepalived's timeout
// until persistence_timeout sets one.
func (v *vsRead) persistence() *model.Persistence {
	if v.svc.Persistence == nil {
		v.svc.Persistence = &model.Persistence{Timeout: model.Duration(kaPersistenceTimeout)}
	}
	return v.svc.Persistence
}

func schedulerFlagKey(_ *importer, v *vsRead, s *Stmt) error {
	v.svc.SchedulerFlags = append(v.svc.SchedulerFlags, s.Keyword)
	return nil
}

func (im *importer) readForwarding(v *vsRead, s *Stmt) error {
	kind, err := oneArg(s)
	if err != nil {
		return err
	}
	switch strings.ToUpper(kind) {
	case "NAT":
		v.svc.Forwarding = model.NAT
	case "DR":
		v.svc.Forwarding = model.DR
	case "TUN":
		v.svc.Forwarding = model.Tunnel
		if len(s.Args) > 1 {
			im.warn(s.Pos, "%s: tunnel options %q are not mapped (ipip only)", v.where, strings.Join(s.Args[1:], " "))
		}
	default:
		return argErr(s, "%q is not NAT, DR or TUN", kind)
	}
	return nil
}

// serviceHeader reads the virtual_server line: ADDRESS PORT or fwmark N.
// It returns false for a virtual_server group, which is not mapped.
func (im *importer) serviceHeader(b *Stmt, vc *vsConf) (bool, error) {
	svc := vc.svc
	switch {
	case len(b.Args) < 1:
		return false, argErr(b, "missing address and port, or fwmark")
	case b.Args[0] == "fwmark" && len(b.Args) == 2:
		m, err := strconv.ParseUint(b.Args[1], 10, 32)
		if err != nil || m == 0 {
			return false, argErr(b, "fwmark %q is not a number 1..4294967295", b.Args[1])
		}
		svc.FWMark = int(m)
		vc.key = "fwmark-" + b.Args[1]
		vc.name = vc.key
	case b.Args[0] == "group":
		im.warn(b.Pos, "virtual_server group %s is not mapped: write one service per address (skipped)", strings.Join(b.Args[1:], " "))
		return false, nil
	case len(b.Args) == 2:
		a, err := parseAddr(b, b.Args[0])
		if err != nil {
			return false, err
		}
		p, err := parsePort(b, b.Args[1])
		if err != nil {
			return false, err
		}
		svc.VIP, svc.Port = a.String(), p
	default:
		return false, argErr(b, "want ADDRESS PORT or fwmark N")
	}
	return true, nil
}

func (im *importer) readService(n *nodeConf, b *Stmt) error {
	svc := &model.Service{}
	vc := &vsConf{pos: b.Pos, svc: svc}
	if ok, err := im.serviceHeader(b, vc); !ok {
		return err
	}
	v := &vsRead{timed: timed{where: "virtual_server " + strings.Join(b.Args, " ")}, vc: vc, svc: svc}
	if err := readBlock(im, v, b.Block, serviceKeys, v.where); err != nil {
		return err
	}
	im.serviceKey(v, b)
	if v.sorry != nil {
		rs, _, err := im.destination(v.sorry, svc, v.where+" sorry_server")
		if err != nil {
			return err
		}
		svc.SorryServer = rs
	}
	timing := v.checkTiming.over(checkTiming{delayLoop: new(model.Duration(kaDelayLoop)), connectTimeout: new(model.Duration(kaConnectTimeout))})
	var checks []*model.Check
	drained := 0
	for _, s := range v.rsStmts {
		r, err := im.readRealServer(s, svc, timing, v.where)
		if err != nil {
			return err
		}
		if r.drain {
			drained++
		}
		svc.RealServers = append(svc.RealServers, *r.rs)
		checks = append(checks, r.check)
	}
	switch {
	case v.drainAll || drained == len(v.rsStmts) && drained > 0:
		svc.Drain = new(true)
	case drained > 0:
		im.warn(b.Pos, "%s: inhibit_on_failure on %d of %d real servers: hakeeper drains per service; imported as drain: true", v.where, drained, len(v.rsStmts))
		svc.Drain = new(true)
	}
	serviceChecks(svc, checks)
	n.services = append(n.services, vc)
	return nil
}

// serviceKey settles the protocol and names the service: after its
// comment, else after protocol, VIP and port or the fwmark.
func (im *importer) serviceKey(v *vsRead, b *Stmt) {
	svc, vc := v.svc, v.vc
	if svc.Protocol == "" && svc.FWMark == 0 {
		im.warn(b.Pos, "%s: no protocol: keepalived 2.2.7 then defaults to UDP, other versions to TCP; imported as tcp (write protocol explicitly)", v.where)
	}
	if svc.FWMark != 0 {
		svc.Protocol = "" // a fwmark service matches every protocol
	} else {
		proto := cmp.Or(string(svc.Protocol), "tcp")
		vc.key = proto + "-" + strings.NewReplacer(".", "-", ":", "-").Replace(svc.VIP) + "-" + strconv.Itoa(svc.Port)
		vc.name = vc.key
	}
	if name, group := serviceNameFromComment(b.Comment); name != "" {
		vc.name = name
		if svc.FWMark != 0 {
			svc.Group = group
		}
	}
}

// serviceChecks sets one check for the whole service when every real
// server has the same, else each server's own.
func serviceChecks(svc *model.Service, checks []*model.Check) {
	same := len(checks) > 0 && !slices.ContainsFunc(checks, func(c *model.Check) bool { return !reflect.DeepEqual(c, checks[0]) })
	switch {
	case same && checks[0] == nil:
		// keepalived does not check a server without a checker: it is always up.
		svc.Check = &model.Check{None: &model.NoCheck{}}
	case same:
		svc.Check = checks[0]
	default:
		for i, c := range checks {
			if c == nil {
				c = &model.Check{None: &model.NoCheck{}}
			}
			svc.RealServers[i].Check = c
		}
	}
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

// destination reads the address and port of a real or sorry server and
// applies keepalived's port rules: IPVS cannot change the port with DR
// or tunnel forwarding, so keepalived clears the port of a fwmark
// service's server and resets any other server's port to the service's,
// with a warning. checkPort is the port as written when it was changed:
// keepalived's checker still connects to it.
func (im *importer) destination(s *Stmt, svc *model.Service, where string) (rs *model.RealServer, checkPort int, err error) {
	if len(s.Args) < 1 {
		return nil, 0, argErr(s, "missing address")
	}
	a, err := parseAddr(s, s.Args[0])
	if err != nil {
		return nil, 0, err
	}
	rs = &model.RealServer{Address: a.String()}
	if len(s.Args) > 1 {
		p, err := parsePort(s, s.Args[1])
		if err != nil {
			return nil, 0, err
		}
		if p != svc.Port {
			rs.Port = p
		}
	}
	fwd := cmp.Or(svc.Forwarding, model.DefaultForwarding)
	switch {
	case fwd == model.NAT || rs.Port == 0:
	case svc.FWMark != 0:
		im.warn(s.Pos, "%s: port %d cleared, as keepalived does: %s forwarding of a fwmark service cannot change the port", where, rs.Port, fwd)
		checkPort, rs.Port = rs.Port, 0
	default:
		im.warn(s.Pos, "%s: port %d reset to the service port %d, as keepalived does: %s forwarding cannot change the port", where, rs.Port, svc.Port, fwd)
		checkPort, rs.Port = rs.Port, 0
	}
	if fwd == model.NAT && a.IsLoopback() {
		im.warn(s.Pos, "%s: IPVS drops packets from other hosts that NAT forwarding would send to loopback address %s (as it did under keepalived): only the director itself reaches this server; an address of the director that is not loopback works", where, a)
	}
	return rs, checkPort, nil
}

// rsRead is a real_server block being read.
type rsRead struct {
	timed
	rs     *model.RealServer
	parent checkTiming
	// checkPort is the port a check without connect_port connects to
	// when it is not the server's (see destination).
	checkPort int
	drain     bool
	check     *model.Check
}

// checkerKeywords are keepalived's checker keywords by hakeeper check
// type; Render writes them and the importer reads them.
var checkerKeywords = map[string]string{"tcp": "TCP_CHECK", "http": "HTTP_GET", "https": "SSL_GET", "exec": "MISC_CHECK", "udp": "UDP_CHECK", "dns": "DNS_CHECK"}

// realServerKeys reads the keywords of a real_server block.
var realServerKeys = func() map[string]handler[rsRead] {
	t := withKeys(map[string]handler[rsRead]{
		"weight":             key(intArg, func(r *rsRead, v int) { r.rs.Weight = &v }),
		"uthreshold":         key(intArg, func(r *rsRead, v int) { r.rs.UpperThreshold = v }),
		"lthreshold":         key(intArg, func(r *rsRead, v int) { r.rs.LowerThreshold = v }),
		"inhibit_on_failure": key(boolArg, func(r *rsRead, v bool) { r.drain = v }),
	}, timingKeys, func(r *rsRead) *timed { return &r.timed })
	for _, k := range checkerKeywords {
		t[k] = (*importer).readChecker
	}
	return t
}()

func (im *importer) readRealServer(b *Stmt, svc *model.Service, parent checkTiming, vsWhere string) (*rsRead, error) {
	where := vsWhere + " real_server " + strings.Join(b.Args, " ")
	rs, checkPort, err := im.destination(b, svc, where)
	if err != nil {
		return nil, err
	}
	r := &rsRead{timed: timed{where: where}, rs: rs, parent: parent, checkPort: checkPort}
	if err := readBlock(im, r, b.Block, realServerKeys, r.where); err != nil {
		return nil, err
	}
	return r, nil
}

// checkRead is a checker block (TCP_CHECK, HTTP_GET, ...) being read.
type checkRead struct {
	timed
	kind string // the checker keyword
	c    *model.Check
	http *model.HTTPCheck // of HTTP_GET and SSL_GET
	urls int
}

// checkerKeys reads the keywords of the checker blocks.
var checkerKeys = withKeys(map[string]handler[checkRead]{
	"connect_port": key(intArg, func(k *checkRead, v int) { k.c.Port = v }),
	// keepalived 2.x still reads this 1.x keyword in HTTP_GET and SSL_GET
	// (as retry, with a deprecation warning).
	"nb_get_retry": func(im *importer, k *checkRead, s *Stmt) error {
		if k.http == nil {
			return im.ignoredRetry(&k.timed, s)
		}
		return timingKeys["retry"](im, &k.timed, s)
	},
	"url": only(func(im *importer, k *checkRead, s *Stmt) error {
		k.urls++
		if k.urls > 1 {
			im.warn(s.Pos, "%s: only the first url is checked by hakeeper (ignored)", k.where)
			return nil
		}
		return im.readURL(s, k.http, k.where)
	}, "HTTP_GET", "SSL_GET"),
	// hakeeper sends SNI (the host) by default.
	"enable_sni":    only(func(*importer, *checkRead, *Stmt) error { return nil }, "SSL_GET"),
	"misc_path":     only(key(oneArg, func(k *checkRead, v string) { k.c.Exec.Command = importCommand(v) }), "MISC_CHECK"),
	"misc_timeout":  only(key(secondsArg, func(k *checkRead, v model.Duration) { k.connectTimeout = &v }), "MISC_CHECK"),
	"user":          only(key(oneArg, func(k *checkRead, v string) { k.c.Exec.User = v }), "MISC_CHECK"),
	"name":          only(key(oneArg, func(k *checkRead, v string) { k.c.DNS.Name = v }), "DNS_CHECK"),
	"type":          only(key(oneArg, func(k *checkRead, v string) { k.c.DNS.Type = strings.ToUpper(v) }), "DNS_CHECK"),
	"payload":       only(key(hexArg, func(k *checkRead, v string) { k.c.UDP.Payload = v }), "UDP_CHECK"),
	"require_reply": only(key(hexArg, func(k *checkRead, v string) { k.c.UDP.RequireReply, k.c.UDP.Expect = true, v }), "UDP_CHECK"),
}, timingKeys, func(k *checkRead) *timed { return &k.timed })

// only limits h to the checkers named: in the others the keyword is
// reported as not mapped, like an unknown one.
func only(h handler[checkRead], kinds ...string) handler[checkRead] {
	return func(im *importer, k *checkRead, s *Stmt) error {
		if !slices.Contains(kinds, k.kind) {
			im.unmapped(s, k.where)
			return nil
		}
		return h(im, k, s)
	}
}

// newChecker starts the check a checker keyword describes.
func (im *importer) newChecker(b *Stmt, where string) *checkRead {
	k := &checkRead{timed: timed{where: where}, kind: b.Keyword, c: &model.Check{}}
	switch b.Keyword {
	case "TCP_CHECK":
		k.c.TCP = &model.TCPCheck{}
	case "HTTP_GET":
		k.http = &model.HTTPCheck{}
		k.c.HTTP = k.http
	case "SSL_GET":
		// keepalived's SSL_GET never verifies the server certificate.
		k.http = &model.HTTPCheck{InsecureSkipVerify: true}
		k.c.HTTPS = k.http
	case "MISC_CHECK":
		k.c.Exec = &model.ExecCheck{}
		im.warn(b.Pos, "%s: hakeeper appends the real server's address and port to the command's arguments; keepalived did not", where)
	case "DNS_CHECK":
		k.c.DNS = &model.DNSCheck{Name: ".", Type: "SOA"}
	case "UDP_CHECK":
		k.c.UDP = &model.UDPCheck{}
	}
	return k
}

// readChecker reads the checker block b of the real server r.
func (im *importer) readChecker(r *rsRead, b *Stmt) error {
	if r.check != nil {
		im.warn(b.Pos, "%s: a second checker (%s) is not mapped: hakeeper runs one check per real server", r.where, b.Keyword)
		return nil
	}
	k := im.newChecker(b, r.where+" "+b.Keyword)
	if err := readBlock(im, k, b.Block, checkerKeys, k.where); err != nil {
		return err
	}
	c := k.c
	if c.Exec != nil && c.Exec.Command.IsZero() {
		return fmt.Errorf("%s: MISC_CHECK without misc_path", b.Pos)
	}
	t := k.checkTiming.over(r.checkTiming.over(r.parent))
	if k.http != nil {
		k.http.Host = cmp.Or(k.http.Host, t.virtualhost)
	}
	c.Interval = t.delayLoop
	c.Timeout = t.connectTimeout
	im.checkRetries(b, c, t, k.where)
	c.Port = cmp.Or(c.Port, r.checkPort)
	if c.Port == r.rs.Port && c.Port != 0 {
		c.Port = 0
	}
	r.check = c
	return nil
}

// checkRetries sets the check's retries from keepalived's retry, or
// keepalived's default for the kind of check.
func (im *importer) checkRetries(b *Stmt, c *model.Check, t checkTiming, where string) {
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
}

// urlRead is an url block of HTTP_GET or SSL_GET being read.
type urlRead struct {
	h     *model.HTTPCheck
	where string
}

// urlKeys reads the keywords of an url block.
var urlKeys = map[string]handler[urlRead]{
	"path": key(oneArg, func(u *urlRead, v string) {
		if v != model.DefaultHTTPPath {
			u.h.Path = v
		}
	}),
	"status_code": func(_ *importer, u *urlRead, s *Stmt) error {
		for _, a := range s.Args {
			r, err := model.ParseStatusRange(a)
			if err != nil || r.First > r.Last {
				return argErr(s, "%q is not a status code or range", a)
			}
			u.h.Status = append(u.h.Status, r)
		}
		return nil
	},
	"virtualhost": key(oneArg, func(u *urlRead, v string) { u.h.Host = v }),
	"regex":       key(oneArg, func(u *urlRead, v string) { u.h.BodyRegex = v }),
	"digest": func(im *importer, u *urlRead, s *Stmt) error {
		im.warn(s.Pos, "%s: digest (MD5 of the body) is not mapped: use body or bodyRegex", u.where)
		return nil
	},
}

func (im *importer) readURL(b *Stmt, h *model.HTTPCheck, where string) error {
	u := &urlRead{h: h, where: where + " url"}
	if err := readBlock(im, u, b.Block, urlKeys, u.where); err != nil {
		return err
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
