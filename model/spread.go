package model

// Spread: choosing the node preference order of several VIP groups so that
// masters are balanced and failures spread evenly.
//
// A spread set names groups G (taken in name order) and nodes N. The result
// is, for every group, a permutation of N: its first node is the master,
// the second takes over when the first fails, and so on.
//
// The orders are built one position at a time, for all groups, before the
// next position is considered. At position p every group already has a
// prefix of p nodes; those are exactly the nodes that must all have failed
// for the group to land on its position-p node. For each group (in name
// order) the candidate nodes are those not in its prefix, and the greedy
// choice is the candidate with the smallest
//
//  1. number of groups with the same prefix (as a set of failed nodes) that
//     already chose it at this position; this alone makes the position-0
//     (master) counts differ by at most one, and for every single failed
//     node X the second choices of X's groups differ by at most one over
//     the survivors, and likewise for deeper positions and failure sets;
//  2. then load the candidate already carries in that failure scenario
//     from groups whose fate there is already decided (groups with a
//     different prefix set, counted at their first surviving node), so
//     that a failed node's groups go preferably to survivors that took
//     over less;
//  3. then rendezvous hash, FNV-64a of group name, a NUL byte and node
//     name (lowest wins), so ties break the same way on every node, on
//     every run and regardless of map order; adding a group or node moves
//     few existing choices.
//
// The classic dual-master layout falls out directly: two groups on two
// nodes give each node one group to master.

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strings"
)

// SpreadOrder computes the node preference order (most preferred first)
// of every group of a spread set. Groups and nodes are deduplicated and
// order-insensitive: the result depends only on the sets of names.
func SpreadOrder(groups, nodes []string) map[string][]string {
	gs := sortedUnique(groups)
	ns := sortedUnique(nodes)
	orders := make(map[string][]string, len(gs))
	for _, g := range gs {
		orders[g] = make([]string, 0, len(ns))
	}
	keys := make([]string, len(gs))
	for range ns {
		for i, g := range gs {
			keys[i] = prefixKey(orders[g])
		}
		chosen := map[string]map[string]int{} // prefix key -> node -> groups choosing it at p
		carried := map[string]map[string]int{}
		for i, g := range gs {
			k := keys[i]
			if _, ok := carried[k]; !ok {
				carried[k] = carriedLoad(gs, keys, orders, k)
				chosen[k] = map[string]int{}
			}
			candidates := slices.DeleteFunc(slices.Clone(ns), func(n string) bool { return slices.Contains(orders[g], n) })
			// The three criteria of the comment above, then the name.
			best := slices.MinFunc(candidates, func(a, b string) int {
				return cmp.Or(
					cmp.Compare(chosen[k][a], chosen[k][b]),
					cmp.Compare(carried[k][a], carried[k][b]),
					cmp.Compare(rendezvousHash(g, a), rendezvousHash(g, b)),
					cmp.Compare(a, b),
				)
			})
			chosen[k][best]++
			orders[g] = append(orders[g], best)
		}
	}
	return orders
}

// carriedLoad counts, for the failure of every node in the prefix set key,
// where the groups with a different prefix set end up: at their first node
// outside the failed set, which lies inside their known prefix because the
// sets have the same size but differ.
func carriedLoad(groups, keys []string, orders map[string][]string, key string) map[string]int {
	failed := map[string]bool{}
	if key != "" {
		for _, n := range strings.Split(key, "\x00") {
			failed[n] = true
		}
	}
	load := map[string]int{}
	for i, g := range groups {
		if keys[i] == key {
			continue
		}
		for _, n := range orders[g] {
			if !failed[n] {
				load[n]++
				break
			}
		}
	}
	return load
}

// prefixKey names a prefix by its set of nodes: the groups that move
// together when exactly those nodes have failed.
func prefixKey(prefix []string) string {
	s := slices.Clone(prefix)
	slices.Sort(s)
	return strings.Join(s, "\x00")
}

func rendezvousHash(group, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(group + "\x00" + node))
	return h.Sum64()
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
