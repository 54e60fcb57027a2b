package peer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/peer"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

type ca struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newCA(t *testing.T) *ca {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	c := &ca{t: t, dir: t.TempDir(), cert: cert, key: key}
	c.file = filepath.Join(c.dir, "ca.pem")
	os.WriteFile(c.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return c
}

// issue returns the files of a certificate for node and its key.
func (c *ca) issue(node string) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: node}, DNSNames: []string{node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	cf, kf := filepath.Join(c.dir, node+".pem"), filepath.Join(c.dir, node+".key")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return cf, kf
}

func (c *ca) creds(node string) *peer.Credentials {
	cf, kf := c.issue(node)
	cr, err := peer.LoadCredentials(c.file, cf, kf)
	if err != nil {
		c.t.Fatal(err)
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
	cluster, other := newCA(t), newCA(t)
	n1 := cluster.creds("n1")
	report := func(node string) *status.Report {
		return &status.Report{Node: node, Healthy: true, Applied: &status.Revision{ID: "c4"},
			Rollout: &status.Rollout{Settled: true, Bad: []status.BadRevision{{ID: "c3", By: node}}},
			VIPGroups: []status.VIPGroup{{Name: "web", State: "master"}}}
	}
	for _, tc := range []struct {
		name    string
		server  *peer.Credentials
		report  *status.Report
		wantErr string
	}{
		{"the node itself", cluster.creds("n3"), report("n3"), ""},
		{"another node's certificate", cluster.creds("n2"), report("n3"), "certificate is valid for n2, not n3"},
		{"a certificate from another CA", other.creds("n3"), report("n3"), "certificate signed by unknown authority"},
		{"a report for another node", cluster.creds("n3"), report("n2"), `report is for node "n2"`},
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
	cluster, other := newCA(t), newCA(t)
	port := serve(t, cluster.creds("n1"), &status.Report{Node: "n1"})
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/status"
	pool := x509.NewCertPool()
	pool.AddCert(cluster.cert)
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

func mustPair(t *testing.T, c *ca) tls.Certificate {
	cf, kf := c.issue("n9")
	p, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
