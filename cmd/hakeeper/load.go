package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
)

// loadCluster reads, decodes and validates the description at path (a
// file or a directory).
func loadCluster(path string) (*model.Cluster, error) {
	files, err := reconcile.ReadFiles(path)
	if err != nil {
		return nil, err
	}
	return model.Load(files)
}

// Seams for choosing the default node, replaced in tests.
var (
	interfaceAddrs = net.InterfaceAddrs
	hostname       = os.Hostname
)

// selectNode is the one rule by which every command that acts for a node
// (run, apply, plan, show) chooses it: the one named, else the one whose
// address is on a local interface (an error if several are), else the
// one named like this host (full, then short hostname). The error lists
// the nodes to choose from.
func selectNode(c *model.Cluster, name string) (string, error) {
	names := make([]string, 0, len(c.Nodes))
	for n := range c.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	if name != "" {
		if c.Nodes[name] == nil {
			return "", fmt.Errorf("node %q is not in the cluster description (nodes: %s)", name, strings.Join(names, ", "))
		}
		return name, nil
	}
	local := map[netip.Addr]bool{}
	if addrs, err := interfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				local[p.Addr().Unmap()] = true
			}
		}
	}
	var matched []string
	for _, n := range names {
		node := c.Nodes[n]
		for _, s := range []string{node.Address, node.Address6} {
			if a, err := netip.ParseAddr(s); err == nil && local[a.Unmap()] {
				matched = append(matched, n)
				break
			}
		}
	}
	switch {
	case len(matched) == 1:
		return matched[0], nil
	case len(matched) > 1:
		return "", fmt.Errorf("the addresses of several nodes are local (%s); choose one with --node", strings.Join(matched, ", "))
	}
	if h, err := hostname(); err == nil {
		short, _, _ := strings.Cut(h, ".")
		for _, cand := range []string{h, short} {
			if c.Nodes[cand] != nil {
				return cand, nil
			}
		}
	}
	return "", fmt.Errorf("this machine is none of the cluster's nodes (no node address is local, and the hostname matches no node name); choose one with --node (nodes: %s)", strings.Join(names, ", "))
}

// desiredFor loads path and computes the desired state of the node chosen
// by selectNode.
func desiredFor(path, node string) (*model.NodeState, error) {
	c, err := loadCluster(path)
	if err != nil {
		return nil, err
	}
	node, err = selectNode(c, node)
	if err != nil {
		return nil, err
	}
	return model.Desired(c, node)
}
