// Package peer is the authenticated channel between the nodes of a
// cluster: every daemon serves its status report over mutual TLS, and
// polls the other nodes' reports at the addresses the description gives
// them. Both sides present a certificate issued by the cluster's CA; a
// node's certificate names the node (a DNS name equal to its name in
// the description), so a host without a key the CA certified for that
// node can neither answer for it nor read anything. The ordered rollout
// and `hakeeper status --cluster` read what the poller keeps.
package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// DefaultPort is where a daemon serves its peers unless told otherwise.
const DefaultPort = 9111

// DefaultInterval is how often every peer is polled.
const DefaultInterval = 2 * time.Second

// pollTimeout bounds one poll of a peer unless the interval is longer.
const pollTimeout = 5 * time.Second

// maxReport bounds a peer's answer: a report of a large table is far
// smaller, and a peer must not make us read without end.
const maxReport = 16 << 20

// maxPEM bounds a CA, certificate or key file.
const maxPEM = 1 << 20

// Credentials are this node's certificate and the cluster's CA.
type Credentials struct {
	pool *x509.CertPool
	cert tls.Certificate
}

// LoadCredentials reads the CA certificates, this node's certificate
// and its key (PEM files, kept outside the description's repository).
func LoadCredentials(caFile, certFile, keyFile string) (*Credentials, error) {
	ca, err := reconcile.ReadRegularFile(caFile, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("peer CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("peer CA %s: no PEM certificate in it", caFile)
	}
	certPEM, err := reconcile.ReadRegularFile(certFile, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	keyPEM, err := reconcile.ReadRegularFile(keyFile, maxPEM)
	if err != nil {
		return nil, fmt.Errorf("peer key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("peer certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &Credentials{pool: pool, cert: cert}, nil
}

// ServerConfig accepts only clients with a certificate from the CA.
func (c *Credentials) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.cert},
		ClientCAs:    c.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// clientConfig trusts only a certificate from the CA issued for node.
func (c *Credentials) clientConfig(node string) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.cert},
		RootCAs:      c.pool,
		ServerName:   node,
		MinVersion:   tls.VersionTLS13,
	}
}

// Listen opens the peer listener on addr, TLS with client certificates
// required, capped like the status server's.
func Listen(addr string, c *Credentials) (net.Listener, error) {
	l, err := status.Listen(addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, c.ServerConfig()), nil
}

// Poller keeps the last authenticated report of every other node.
type Poller struct {
	creds    *Credentials
	self     string
	port     int
	interval time.Duration
	log      *slog.Logger
	// onChange is called (never blocking the poll) when what a peer
	// reports changes: applied revision, settled, bad marks, roles,
	// reachability.
	onChange func()

	mu    sync.Mutex
	peers map[string]*peerState
}

type peerState struct {
	addr    string
	client  *http.Client
	report  *status.Report
	err     error
	seen    time.Time
	summary string
}

// NewPoller polls the nodes given by SetNodes but self at port.
func NewPoller(creds *Credentials, self string, port int, interval time.Duration, log *slog.Logger, onChange func()) *Poller {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Poller{creds: creds, self: self, port: port, interval: interval, log: log, onChange: onChange, peers: map[string]*peerState{}}
}

// SetNodes sets the cluster's nodes (name → address) from the
// description in force; nodes gone from it are forgotten.
func (p *Poller) SetNodes(nodes map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.peers {
		if _, ok := nodes[name]; !ok {
			delete(p.peers, name)
		}
	}
	for name, addr := range nodes {
		if name == p.self {
			continue
		}
		if st := p.peers[name]; st != nil && st.addr == addr {
			continue
		}
		tr := &http.Transport{TLSClientConfig: p.creds.clientConfig(name), MaxIdleConnsPerHost: 1, IdleConnTimeout: 3 * p.interval}
		// A loaded peer may take seconds to answer; a poll that long
		// only delays the next round.
		p.peers[name] = &peerState{addr: addr, client: &http.Client{Transport: tr, Timeout: max(p.interval, pollTimeout)}}
	}
}

// Run polls every peer each interval until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.pollAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Poller) pollAll(ctx context.Context) {
	p.mu.Lock()
	names := slices.Collect(maps.Keys(p.peers))
	p.mu.Unlock()
	var wg sync.WaitGroup
	changed := make(chan bool, len(names))
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed <- p.poll(ctx, name)
		}()
	}
	wg.Wait()
	close(changed)
	for c := range changed {
		if c && p.onChange != nil {
			p.onChange()
			return
		}
	}
}

// poll asks one peer and reports whether its summary changed.
func (p *Poller) poll(ctx context.Context, name string) bool {
	p.mu.Lock()
	st := p.peers[name]
	p.mu.Unlock()
	if st == nil {
		return false
	}
	r, err := fetch(ctx, st.client, "https://"+net.JoinHostPort(st.addr, strconv.Itoa(p.port))+"/status")
	if err == nil && r.Node != name {
		err = fmt.Errorf("report is for node %q", r.Node)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peers[name] != st {
		return false // replaced by SetNodes meanwhile
	}
	if err != nil {
		if st.err == nil || st.err.Error() != err.Error() {
			p.log.Warn("peer unreachable", "peer", name, "addr", st.addr, "err", err)
		}
		st.err = err
	} else {
		if st.err != nil || st.report == nil {
			p.log.Info("peer reachable", "peer", name, "addr", st.addr)
		}
		st.err, st.report, st.seen = nil, r, time.Now()
	}
	sum := summary(st)
	if sum == st.summary {
		return false
	}
	st.summary = sum
	return true
}

func fetch(ctx context.Context, c *http.Client, url string) (*status.Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var r status.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReport)).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &r, nil
}

// Status lists every peer for the status report, sorted by name.
func (p *Poller) Status() []status.Peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]status.Peer, 0, len(p.peers))
	for name, st := range p.peers {
		out = append(out, view(name, st))
	}
	slices.SortFunc(out, func(a, b status.Peer) int { return strings.Compare(a.Node, b.Node) })
	return out
}

func view(name string, st *peerState) status.Peer {
	v := status.Peer{Node: name, Address: st.addr, Reachable: st.err == nil && st.report != nil, Seen: st.seen}
	if st.err != nil {
		v.Error = st.err.Error()
	} else if st.report == nil {
		v.Error = "not polled yet"
	}
	if r := st.report; r != nil {
		if r.Applied != nil {
			v.Applied = r.Applied.ID
		}
		v.Healthy = r.Healthy
		if r.Rollout != nil {
			v.Settled = r.Rollout.Settled
			for _, b := range r.Rollout.Bad {
				if b.By == name {
					v.Bad = append(v.Bad, b.ID)
				}
			}
		}
		for _, g := range r.VIPGroups {
			v.Groups = append(v.Groups, status.PeerGroup{Name: g.Name, State: g.State})
		}
		if r.BGP != nil {
			for _, g := range r.BGP.Groups {
				v.Groups = append(v.Groups, status.PeerGroup{Name: g.Name, State: status.BGPRole(g)})
			}
		}
	}
	return v
}

// summary is what the rollout looks at: a change of it triggers a pass.
func summary(st *peerState) string {
	v := view("", st)
	v.Seen, v.Error = time.Time{}, ""
	b, _ := json.Marshal(v)
	return string(b)
}
