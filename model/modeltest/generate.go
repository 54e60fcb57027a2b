// Package modeltest builds synthetic cluster descriptions for tests and
// benchmarks of every package that consumes the model (desired state,
// IPVS programming, rendering), so they all measure the same workload.
package modeltest

import (
	"fmt"
	"net/netip"

	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
)

// vipsPerGroup keeps every generated group well inside one VRRP advert.
const vipsPerGroup = 20

// GenerateCluster returns a valid cluster of the given number of nodes
// (node-1 … node-N on 192.0.2.0/24, interface eth0), TCP virtual services
// on VIPs from 198.51.100.0/24 (spread over VIP groups of at most 20 VIPs,
// every node a member, in node order) and each service with the given
// number of real servers from 203.0.113.0/24 sharing the service's port.
// Services on one VIP differ by port. Every third service has an HTTP
// check; the others use the default TCP check.
func GenerateCluster(services, servers, nodes int) *model.Cluster {
	if nodes < 1 || nodes > 250 || servers > 250 || services < 0 {
		panic(fmt.Sprintf("modeltest.GenerateCluster(%d, %d, %d): want 1-250 nodes and at most 250 servers", services, servers, nodes))
	}
	c := &model.Cluster{
		Name:      "generated",
		Nodes:     map[string]*model.Node{},
		VIPGroups: map[string]*model.VIPGroup{},
		Services:  make(map[string]*model.Service, services),
	}
	var nodeNames []string
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("node-%d", i)
		nodeNames = append(nodeNames, name)
		c.Nodes[name] = &model.Node{Address: fmt.Sprintf("192.0.2.%d", i), Interface: "eth0"}
	}
	vips := min(max(services, 1), 250)
	for v := range vips {
		gname := fmt.Sprintf("vips-%02d", v/vipsPerGroup)
		g := c.VIPGroups[gname]
		if g == nil {
			g = &model.VIPGroup{VRID: v/vipsPerGroup + 1, Nodes: nodeNames}
			c.VIPGroups[gname] = g
		}
		g.VIPs = append(g.VIPs, model.VIP{Address: vipAddr(v).String() + "/24"})
	}
	for i := range services {
		port := 1024 + i/vips
		s := &model.Service{VIP: vipAddr(i % vips).String(), Port: port}
		if i%3 == 0 {
			s.Check = &model.Check{HTTP: &model.HTTPCheck{Path: "/healthz"}}
		}
		for j := range servers {
			s.RealServers = append(s.RealServers, model.RealServer{Address: fmt.Sprintf("203.0.113.%d", j+1)})
		}
		c.Services[fmt.Sprintf("svc-%05d", i)] = s
	}
	return c
}

// GenerateYAML returns GenerateCluster's cluster as a YAML description.
func GenerateYAML(services, servers, nodes int) []byte {
	out, err := yaml.Marshal(GenerateCluster(services, servers, nodes))
	if err != nil {
		panic(err) // the generated types always marshal
	}
	return out
}

func vipAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}) }
