package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// connectRetry is how soon a lost session is tried again. GoBGP's
// default (120 s) would keep a restarted router without this director's
// routes for two minutes.
const connectRetry = 5 * time.Second

// Server is a Speaker on an embedded GoBGP. It never listens for BGP
// connections (ListenPort -1): a director opens its sessions to the
// routers, so no port 179 is opened on the node. GoBGP's BFD listens on
// UDP 3784 (RFC 5881) once a peer has BFD.
type Server struct {
	mu      sync.Mutex
	log     *slog.Logger
	s       *server.BgpServer
	running *Config // nil until the first Apply starts BGP
	stopped bool
}

var _ Speaker = (*Server)(nil)

// NewServer starts an idle GoBGP; the first Apply configures it.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "gobgp")
	return &Server{log: log, s: newGoBGP(log)}
}

func newGoBGP(log *slog.Logger) *server.BgpServer {
	// The level variable serves GoBGP's SetLogLevel only, which hakeeper
	// does not call: log's own handler decides what is written.
	s := server.NewBgpServer(server.LoggerOption(log, new(slog.LevelVar)))
	go s.Serve()
	return s
}

// Apply implements Speaker. On an error the running Config is what was
// applied before the failing step, so the next Apply repeats the rest.
func (sv *Server) Apply(c Config) error {
	c.Sort()
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.stopped {
		return errors.New("bgp: speaker stopped")
	}
	ctx := context.Background()
	if r := sv.running; r != nil && (r.ASN != c.ASN || r.RouterID != c.RouterID || c.ASN == 0) {
		// GoBGP changes its global settings only by stopping (a Cease to
		// every peer), and a stopped BgpServer cannot start again.
		sv.s.Stop()
		sv.s, sv.running = newGoBGP(sv.log), nil
	}
	if c.ASN == 0 {
		return nil // no BGP on this node
	}
	if sv.running == nil {
		err := sv.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
			Asn: c.ASN, RouterId: c.RouterID.String(), ListenPort: -1,
		}})
		if err != nil {
			return fmt.Errorf("bgp: starting (ASN %d, router id %s): %w", c.ASN, c.RouterID, err)
		}
		sv.running = &Config{ASN: c.ASN, RouterID: c.RouterID}
	}
	r := sv.running
	// The deleting loops range over copies of r's lists: r stays what
	// runs when a step fails.
	for _, p := range slices.Clone(r.Peers) {
		if i := indexPeer(c.Peers, p.Address); i < 0 || !samePeer(c.Peers[i], p) {
			if err := sv.s.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
				return fmt.Errorf("bgp: removing peer %s: %w", p.Address, err)
			}
			r.Peers = slices.DeleteFunc(r.Peers, func(q Peer) bool { return q.Address == p.Address })
		}
	}
	for _, p := range c.Peers {
		if indexPeer(r.Peers, p.Address) >= 0 {
			continue
		}
		if err := sv.s.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			return fmt.Errorf("bgp: adding peer %s: %w", p.Address, err)
		}
		r.Peers = append(r.Peers, p)
	}
	for _, rt := range slices.Clone(r.Routes) {
		if indexRoute(c.Routes, rt.Prefix) < 0 {
			if err := sv.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{path(rt, c.ASN)}}); err != nil {
				return fmt.Errorf("bgp: withdrawing %s: %w", rt.Prefix, err)
			}
			r.Routes = slices.DeleteFunc(r.Routes, func(q Route) bool { return q.Prefix == rt.Prefix })
		}
	}
	for _, rt := range c.Routes {
		i := indexRoute(r.Routes, rt.Prefix)
		if i >= 0 && r.Routes[i] == rt {
			continue
		}
		// A path for a prefix already announced replaces it (implicit withdraw).
		if _, err := sv.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path(rt, c.ASN)}}); err != nil {
			return fmt.Errorf("bgp: announcing %s: %w", rt.Prefix, err)
		}
		if i >= 0 {
			r.Routes[i] = rt
		} else {
			r.Routes = append(r.Routes, rt)
		}
	}
	r.Sort()
	return nil
}

// Status implements Speaker.
func (sv *Server) Status() Status {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var st Status
	if sv.running == nil {
		return st
	}
	st.Announced = append([]Route(nil), sv.running.Routes...)
	sv.s.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		ps := PeerStatus{State: "idle"}
		if s := p.GetState(); s != nil {
			ps.Address, _ = netip.ParseAddr(s.NeighborAddress)
			ps.ASN = s.PeerAsn
			ps.State = stateName(s.SessionState, "SESSION_STATE_", "IDLE")
			if p.GetBfd().GetEnabled() {
				ps.BFD = stateName(s.GetBfdState().GetSessionState(), "BFD_SESSION_STATE_", "DOWN")
			}
		}
		if t := p.GetTimers().GetState(); t != nil && t.Uptime != nil && ps.Established() {
			ps.Since = t.Uptime.AsTime()
		} else if t != nil && t.Downtime != nil && !ps.Established() {
			ps.Since = t.Downtime.AsTime()
		}
		st.Peers = append(st.Peers, ps)
	})
	return st
}

// Stop implements Speaker: GoBGP's StopBgp sends each established
// peer a Cease notification, so the routers drop this director's routes
// at once instead of at the hold time.
func (sv *Server) Stop() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.stopped {
		return nil
	}
	sv.stopped = true
	sv.running = nil
	sv.s.Stop()
	return nil
}

func apiPeer(p Peer) *api.Peer {
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(p.HoldTime / time.Second),
			KeepaliveInterval: uint64(p.Keepalive / time.Second),
			ConnectRetry:      uint64(connectRetry / time.Second),
			// GoBGP's default waits 30 s after a reset (BFD down) before
			// trying again: a router's BFD coming up slowly would keep
			// the director out that long.
			IdleHoldTimeAfterReset: uint64(connectRetry / time.Second),
		}},
	}
	if p.LocalAddress.IsValid() {
		ap.Transport = &api.Transport{LocalAddress: p.LocalAddress.String()}
	}
	if b := p.BFD; b != nil {
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(b.MinTx / time.Microsecond),
			RequiredMinimumReceive:   uint32(b.MinRx / time.Microsecond),
			DetectionMultiplier:      uint32(b.Multiplier),
		}
	}
	return ap
}

// path is a route as GoBGP takes it. The next hop is left unspecified:
// GoBGP puts the session's local address there, which is the director.
func path(r Route, asn uint32) *apiutil.Path {
	nlri, _ := bgppkt.NewIPAddrPrefix(r.Prefix)
	attrs := []bgppkt.PathAttributeInterface{
		bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgppkt.NewPathAttributeMultiExitDisc(r.MED),
	}
	fam := bgppkt.RF_IPv4_UC
	if r.Prefix.Addr().Is4() {
		nh, _ := bgppkt.NewPathAttributeNextHop(netip.IPv4Unspecified())
		attrs = append(attrs, nh)
	} else {
		fam = bgppkt.RF_IPv6_UC
		mp, _ := bgppkt.NewPathAttributeMpReachNLRI(fam, []bgppkt.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		attrs = append(attrs, mp)
	}
	if r.Prepend > 0 {
		as := slices.Repeat([]uint32{asn}, r.Prepend)
		attrs = append(attrs, bgppkt.NewPathAttributeAsPath([]bgppkt.AsPathParamInterface{
			bgppkt.NewAs4PathParam(bgppkt.BGP_ASPATH_ATTR_TYPE_SEQ, as),
		}))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}
}

// stateName is a GoBGP state enum's name as the status shows it:
// SESSION_STATE_OPENSENT is opensent, BFD_SESSION_STATE_ADMIN_DOWN
// admindown; unspecified shows as the state it behaves as.
func stateName(s fmt.Stringer, prefix, unspecified string) string {
	name := strings.TrimPrefix(s.String(), prefix)
	if name == "UNSPECIFIED" {
		name = unspecified
	}
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}

func samePeer(a, b Peer) bool {
	return a.Address == b.Address && a.ASN == b.ASN && a.LocalAddress == b.LocalAddress &&
		a.Password == b.Password && a.HoldTime == b.HoldTime && a.Keepalive == b.Keepalive &&
		(a.BFD == nil) == (b.BFD == nil) && (a.BFD == nil || *a.BFD == *b.BFD)
}

func indexPeer(ps []Peer, a netip.Addr) int {
	return slices.IndexFunc(ps, func(p Peer) bool { return p.Address == a })
}

func indexRoute(rs []Route, p netip.Prefix) int {
	return slices.IndexFunc(rs, func(r Route) bool { return r.Prefix == p })
}
