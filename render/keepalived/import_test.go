package keepalived

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/test/golden"

	"github.com/hakeeper/hakeeper/model"
)

// importDir imports every *.conf at the top of a testdata/import case
// directory, with node addresses from its optional "addresses" file.
func importDir(t *testing.T, dir string) (*Result, error) {
	t.Helper()
	confs, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil || len(confs) == 0 {
		t.Fatalf("no *.conf in %s", dir)
	}
	var srcs []Source
	for _, c := range confs {
		srcs = append(srcs, Source{Path: c})
	}
	opts := Options{Cluster: filepath.Base(dir), Addresses: map[string][]string{}}
	if p := filepath.Join(dir, "iptables-save"); fileExists(p) {
		opts.IPTablesSave = p
	}
	if f, err := os.Open(filepath.Join(dir, "addresses")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				opts.Addresses[k] = append(opts.Addresses[k], v)
			}
		}
		f.Close()
	}
	return Import(srcs, opts)
}

func warningsText(ws []Warning) []byte {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func TestImportCorpus(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/import/*")
	if len(dirs) == 0 {
		t.Fatal("empty corpus")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := importDir(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata/golden", filepath.Base(dir)+".yaml"), out)
			golden.Check(t, filepath.Join("testdata/golden", filepath.Base(dir)+".warnings"), warningsText(res.Warnings))
		})
	}
}

// TestImportMissingAddress: without an address in keepalived.conf or
// --address, the error says which address is missing and how to give it.
func TestImportMissingAddress(t *testing.T) {
	tests := []struct {
		desc, src string
		want      []string
	}{
		{
			desc: "multicast without mcast_src_ip",
			src:  "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.100\n }\n}\n",
			want: []string{"lb1.conf: node lb1: address unknown: no vrrp_instance has unicast_src_ip or mcast_src_ip", "pass --address lb1=IPv4"},
		},
		{
			desc: "only an IPv6 source address",
			src:  "vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 1\n unicast_src_ip 2001:db8::1\n unicast_peer {\n  2001:db8::2\n }\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n",
			want: []string{"lb1.conf: node lb1: IPv4 address unknown: its keepalived.conf states only the IPv6 address 2001:db8::1", "pass --address lb1=IPv4"},
		},
		{
			desc: "an IPv6 link-local mcast_src_ip is no node address",
			src:  "vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 1\n mcast_src_ip fe80::1\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n",
			want: []string{"node lb1: address unknown: no vrrp_instance has unicast_src_ip or mcast_src_ip"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lb1.conf")
			writeFile(t, path, tc.src)
			_, err := Import([]Source{{Path: path}}, Options{})
			if err == nil {
				t.Fatal("import succeeded without a node address")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestImportSplitNoFreeVRID: an instance with more VIPs than one advert
// carries is split over groups with VRIDs of their own; when the other
// instances hold every VRID, the import refuses it at the instance's line.
func TestImportSplitNoFreeVRID(t *testing.T) {
	var b strings.Builder
	for vrid := 1; vrid <= 255; vrid++ {
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n interface eth0\n virtual_router_id %d\n mcast_src_ip 192.0.2.1\n virtual_ipaddress {\n", vrid, vrid)
		n := 1
		if vrid == 7 {
			n = model.MaxVIPsIPv4 + 1
		}
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  10.%d.%d.%d\n", vrid, i/250, i%250+1)
		}
		b.WriteString(" }\n}\n")
	}
	path := filepath.Join(t.TempDir(), "lb1.conf")
	writeFile(t, path, b.String())
	_, err := Import([]Source{{Path: path}}, Options{})
	if err == nil {
		t.Fatal("import succeeded although no VRID is free for the second group")
	}
	// Instances 1-6 take 8 lines each.
	want := path + ":49: vrrp_instance VI_7: 256 VIPs (virtual_ipaddress and virtual_ipaddress_excluded together) need 2 VRRP groups of at most 255 ipv4 addresses each"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "only 0 VRID(s) are left") {
		t.Errorf("error:\n%v\nwant it to start with\n%s\nand say that 0 VRIDs are left", err, want)
	}
}

// TestImportCheckerOnlyKeywords: a keyword of one kind of checker (url,
// misc_path, name, payload, enable_sni) inside another kind is reported
// as not mapped, and read where it belongs.
func TestImportCheckerOnlyKeywords(t *testing.T) {
	src := `vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 1
 mcast_src_ip 192.0.2.1
 virtual_ipaddress {
  192.0.2.100
 }
}
virtual_server 192.0.2.100 443 {
 protocol TCP
 real_server 198.51.100.1 443 {
  TCP_CHECK {
   url {
    path /x
   }
   misc_path /bin/true
   name example.org
   payload 0a
   enable_sni
  }
 }
 real_server 198.51.100.2 443 {
  SSL_GET {
   enable_sni
   url {
    path /health
   }
  }
 }
}
`
	path := filepath.Join(t.TempDir(), "lb1.conf")
	writeFile(t, path, src)
	res, err := Import([]Source{{Path: path}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := string(warningsText(res.Warnings))
	for _, kw := range []string{"url", "misc_path", "name", "payload", "enable_sni"} {
		want := fmt.Sprintf("real_server 198.51.100.1 443 TCP_CHECK: keyword %q is not mapped", kw)
		if !strings.Contains(got, want) {
			t.Errorf("warnings do not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SSL_GET: keyword") {
		t.Errorf("a keyword of SSL_GET is reported as not mapped:\n%s", got)
	}
	svc := res.Cluster.Services["tcp-192-0-2-100-443"]
	if svc == nil || len(svc.RealServers) != 2 {
		t.Fatalf("services: %v", res.Cluster.Services)
	}
	if c := svc.RealServers[1].Check; c == nil || c.HTTPS == nil || c.HTTPS.Path != "/health" {
		t.Errorf("SSL_GET check of 198.51.100.2 = %+v, want https with path /health", c)
	}
}

// TestImportVersionDiffersPos: when only the second node sets
// vrrp_version, the warning still names the first node's file.
func TestImportVersionDiffersPos(t *testing.T) {
	dir := t.TempDir()
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n mcast_src_ip 192.0.2.%d\n virtual_ipaddress {\n  192.0.2.100\n }\n}\n"
	lb1, lb2 := filepath.Join(dir, "lb1.conf"), filepath.Join(dir, "lb2.conf")
	writeFile(t, lb1, fmt.Sprintf(inst, 1))
	writeFile(t, lb2, "global_defs {\n vrrp_version 3\n}\n"+fmt.Sprintf(inst, 2))
	res, err := Import([]Source{{Path: lb1}, {Path: lb2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := lb2 + ":2: global_defs vrrp_version differs between nodes: 3 here, 2 at " + lb1 + "; imported as at " + lb1
	if got := string(warningsText(res.Warnings)); !strings.Contains(got, want+"\n") {
		t.Errorf("warnings:\n%s\nwant the line\n%s", got, want)
	}
}

// TestImportRenamedGroupKeepsOthers: two nodes call different VRRP
// routers VI_1, so one group is renamed VI_1-VRID; a router really named
// so must keep its own group, not be overwritten by the renamed one.
func TestImportRenamedGroupKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	inst := "vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n mcast_src_ip 192.0.2.%d\n virtual_ipaddress {\n  %s\n }\n}\n"
	lb1, lb2 := filepath.Join(dir, "lb1.conf"), filepath.Join(dir, "lb2.conf")
	writeFile(t, lb1, fmt.Sprintf(inst, "VI_1", 1, 1, "192.0.2.101")+fmt.Sprintf(inst, "VI_1-2", 5, 1, "192.0.2.105"))
	writeFile(t, lb2, fmt.Sprintf(inst, "VI_1", 2, 2, "192.0.2.102"))
	res, err := Import([]Source{{Path: lb1}, {Path: lb2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	vrids := map[int]bool{}
	for name, g := range res.Cluster.VIPGroups {
		vrids[g.VRID] = true
		t.Logf("%s: vrid %d", name, g.VRID)
	}
	if len(res.Cluster.VIPGroups) != 3 || !vrids[1] || !vrids[2] || !vrids[5] {
		t.Errorf("want three groups with VRIDs 1, 2 and 5, got %d: %v", len(res.Cluster.VIPGroups), vrids)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// An iptables-save file without a rule for a service's mark leaves the
// service without match, said at its line; its rules for other marks are
// listed as not converted.
func TestImportIPTablesSaveOtherMark(t *testing.T) {
	dir := "testdata/import/fwmark-dr-port"
	save := "testdata/import/fwmark-iptables/iptables-save"
	res, err := Import([]Source{{Path: dir + "/lb1.conf"}}, Options{IPTablesSave: save})
	if err != nil {
		t.Fatal(err)
	}
	text := string(warningsText(res.Warnings))
	for _, want := range []string{
		dir + "/lb1.conf:24: virtual_server fwmark 7: " + save + " has no convertible rule setting mark 7: imported without match",
		save + ":8: iptables: mark 21 is no fwmark virtual_server's; rule not converted",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("warnings lack %q:\n%s", want, text)
		}
	}
	for _, s := range res.Cluster.Services {
		if s.Match != nil {
			t.Errorf("match %+v imported from rules of another mark", s.Match)
		}
	}
}
