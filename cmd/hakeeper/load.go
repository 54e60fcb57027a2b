package main

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
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
	names := slices.Sorted(maps.Keys(c.Nodes))
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
// by selectNode; once it has, it prints the description's warnings to
// warn (nil: nowhere).
func desiredFor(path, node string, warn io.Writer) (*model.NodeState, error) {
	c, err := loadCluster(path)
	if err != nil {
		return nil, err
	}
	return resolveNode(c, node, warn)
}

// resolveNode computes the desired state of the node selectNode chooses
// in a loaded description and then prints its warnings to warn.
func resolveNode(c *model.Cluster, node string, warn io.Writer) (*model.NodeState, error) {
	node, err := selectNode(c, node)
	if err != nil {
		return nil, err
	}
	ns, err := model.Desired(c, node)
	if err != nil {
		return nil, err
	}
	printWarnings(warn, c)
	return ns, nil
}

// printWarnings prints what is valid in the description but probably not
// meant, one "warning: FILE:LINE:COL: FIELD: MESSAGE" line each, as every
// command that reads a description does. They go to stderr so that
// stdout (JSON included) stays the command's output, and leave the exit
// status alone.
func printWarnings(w io.Writer, c *model.Cluster) {
	if w == nil {
		return
	}
	for _, e := range model.Warnings(c) {
		fmt.Fprintln(w, "warning:", e)
	}
}
