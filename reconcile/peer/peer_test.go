package peer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/peer"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
)

func creds(t *testing.T, ca *gitserver.CA, node string) *peer.Credentials {
	cf, kf := ca.IssueNode(t, node)
	cr, err := peer.LoadCredentials(ca.File, cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

// serve answers /status with r on loopback, over peer.Listen with creds,
// and returns the port.
func serve(t *testing.T, creds *peer.Credentials, r *status.Report) int {
	l, err := peer.Listen("127.0.0.1:0", creds)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(r) }),
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// poll has n1 poll node "n3" at the loopback port once.
func poll(t *testing.T, self *peer.Credentials, port int) status.Peer {
	p := peer.NewPoller(self, "n1", port, 100*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	p.SetNodes(map[string]string{"n1": "127.0.0.1", "n3": "127.0.0.1"})
	ctx, cancel := context.WithCancel(t.Context())
	go p.Run(ctx)
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.Status()
		if len(st) != 1 {
			t.Fatalf("peers %+v, want n3 alone", st)
		}
		if st[0].Error != "not polled yet" || time.Now().After(deadline) {
			return st[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Only a server holding the cluster CA's certificate for the node it
// answers for, reporting that node, is believed.
func TestPollerBelievesOnlyTheNode(t *testing.T) {
	cluster, other := gitserver.NewCA(t, "cluster"), gitserver.NewCA(t, "other")
	n1 := creds(t, cluster, "n1")
	report := func(node string) *status.Report {
		return &status.Report{Node: node, Healthy: true, Applied: &status.Revision{ID: "c4"},
			Rollout:   &status.Rollout{Settled: true, Bad: []status.BadRevision{{ID: "c3", By: node}}},
			VIPGroups: []status.VIPGroup{{Name: "web", State: "master"}}}
	}
	for _, tc := range []struct {
		name    string
		server  *peer.Credentials
		report  *status.Report
		wantErr string
	}{
		{"the node itself", creds(t, cluster, "n3"), report("n3"), ""},
		{"another node's certificate", creds(t, cluster, "n2"), report("n3"), "certificate is valid for n2, not n3"},
		{"a certificate from another CA", creds(t, other, "n3"), report("n3"), "certificate signed by unknown authority"},
		{"a report for another node", creds(t, cluster, "n3"), report("n2"), `report is for node "n2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := poll(t, n1, serve(t, tc.server, tc.report))
			if tc.wantErr == "" {
				if !got.Reachable || got.Applied != "c4" || !got.Settled || len(got.Bad) != 1 || len(got.Groups) != 1 || got.Groups[0].State != "master" {
					t.Errorf("peer %+v, want its report", got)
				}
				return
			}
			if got.Reachable || !strings.Contains(got.Error, tc.wantErr) || got.Applied != "" || got.Bad != nil {
				t.Errorf("peer %+v, want unreachable with %q and nothing of the report", got, tc.wantErr)
			}
		})
	}
}

// The peer listener reads nothing to a client without a certificate from
// the cluster's CA.
func TestListenRequiresClientCertificate(t *testing.T) {
	cluster, other := gitserver.NewCA(t, "cluster"), gitserver.NewCA(t, "other")
	port := serve(t, creds(t, cluster, "n1"), &status.Report{Node: "n1"})
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/status"
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cluster.PEM)
	for name, certs := range map[string][]tls.Certificate{"none": nil, "another CA's": {mustPair(t, other)}} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "n1", Certificates: certs}}}
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("client with %s certificate read %s", name, b)
		}
	}
}

func mustPair(t *testing.T, c *gitserver.CA) tls.Certificate {
	cf, kf := c.IssueNode(t, "n9")
	p, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A peer's bgp groups come through as announcing or withdrawn, beside
// its VRRP roles.
func TestPollerReportsBGPGroups(t *testing.T) {
	ca := gitserver.NewCA(t, "cluster")
	vip := netip.MustParsePrefix("203.0.113.80/32")
	r := &status.Report{Node: "n3", VIPGroups: []status.VIPGroup{{Name: "web", State: "backup"}},
		BGP: &status.BGP{Groups: []status.BGPGroup{{Name: "www", VIPs: []netip.Prefix{vip}, Announced: []netip.Prefix{vip}},
			{Name: "db", VIPs: []netip.Prefix{vip}, Withdrawn: "check in-service failing"}}}}
	got := poll(t, creds(t, ca, "n1"), serve(t, creds(t, ca, "n3"), r))
	want := []status.PeerGroup{{Name: "web", State: "backup"}, {Name: "www", State: status.StateAnnouncing}, {Name: "db", State: status.StateWithdrawn}}
	if !slices.Equal(got.Groups, want) {
		t.Errorf("groups %+v, want %+v", got.Groups, want)
	}
}
