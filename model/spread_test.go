package model_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

func groupNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("vip-%02d", i))
	}
	return out
}

// spread returns max-min of the counts over the given nodes (zeros count).
func imbalance(counts map[string]int, over []string) int {
	lo, hi := 1<<30, -1
	for _, n := range over {
		lo, hi = min(lo, counts[n]), max(hi, counts[n])
	}
	return hi - lo
}

func TestSpreadOrderBalance(t *testing.T) {
	for nn := 2; nn <= 7; nn++ {
		for ng := 1; ng <= 20; ng++ {
			ns, gs := nodeNames(nn), groupNames(ng)
			orders := model.SpreadOrder(gs, ns)
			if len(orders) != ng {
				t.Fatalf("%d nodes × %d groups: %d orders", nn, ng, len(orders))
			}
			for g, o := range orders {
				if s := slices.Sorted(slices.Values(o)); !slices.Equal(s, ns) {
					t.Fatalf("%d×%d: order of %s is %v, not a permutation of the nodes", nn, ng, g, o)
				}
			}
			// (a) masters balanced.
			firsts := map[string]int{}
			for _, o := range orders {
				firsts[o[0]]++
			}
			if d := imbalance(firsts, ns); d > 1 {
				t.Errorf("%d nodes × %d groups: masters %v differ by %d", nn, ng, firsts, d)
			}
			// (b) every single node failure: the failed node's groups
			// go to survivors evenly, and total load stays within 2.
			for _, failed := range ns {
				survivors := slices.DeleteFunc(slices.Clone(ns), func(n string) bool { return n == failed })
				moved, total := map[string]int{}, map[string]int{}
				for _, o := range orders {
					if o[0] == failed {
						moved[o[1]]++
						total[o[1]]++
					} else {
						total[o[0]]++
					}
				}
				if d := imbalance(moved, survivors); d > 1 {
					t.Errorf("%d×%d, %s fails: its groups go %v (imbalance %d)", nn, ng, failed, moved, d)
				}
				if d := imbalance(total, survivors); d > 2 {
					t.Errorf("%d×%d, %s fails: load %v (imbalance %d)", nn, ng, failed, total, d)
				}
			}
			// Deeper: for every ordered pair of failures, the groups
			// whose first two nodes are exactly that pair spread evenly.
			for _, a := range ns {
				for _, b := range ns {
					if a == b {
						continue
					}
					moved := map[string]int{}
					var survivors []string
					for _, n := range ns {
						if n != a && n != b {
							survivors = append(survivors, n)
						}
					}
					for _, o := range orders {
						if len(o) > 2 && (o[0] == a && o[1] == b || o[0] == b && o[1] == a) {
							moved[o[2]]++
						}
					}
					if d := imbalance(moved, survivors); len(survivors) > 0 && d > 1 {
						t.Errorf("%d×%d, %s and %s fail: third choices %v (imbalance %d)", nn, ng, a, b, moved, d)
					}
				}
			}
		}
	}
}

func TestSpreadOrderDeterministic(t *testing.T) {
	ns, gs := nodeNames(5), groupNames(17)
	want := model.SpreadOrder(gs, ns)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		g2, n2 := slices.Clone(gs), slices.Clone(ns)
		rng.Shuffle(len(g2), func(i, j int) { g2[i], g2[j] = g2[j], g2[i] })
		rng.Shuffle(len(n2), func(i, j int) { n2[i], n2[j] = n2[j], n2[i] })
		n2 = append(n2, n2[0]) // duplicates do not matter either
		if got := model.SpreadOrder(g2, n2); !reflect.DeepEqual(got, want) {
			t.Fatalf("order of input changed the result:\n got %v\nwant %v", got, want)
		}
	}
	// Ties are broken by hash, not by name: over many sets the first
	// group is not always mastered by the alphabetically first node.
	byName := 0
	for i := range 20 {
		gs := []string{fmt.Sprintf("set%d-a", i), fmt.Sprintf("set%d-b", i)}
		if model.SpreadOrder(gs, []string{"n1", "n2"})[gs[0]][0] == "n1" {
			byName++
		}
	}
	if byName == 0 || byName == 20 {
		t.Errorf("first group mastered by n1 in %d of 20 sets: ties are not broken by hash", byName)
	}
}

func TestSpreadStableWhenGroupAdded(t *testing.T) {
	// Rendezvous hashing keeps most masters when a group joins.
	ns := nodeNames(4)
	before := model.SpreadOrder(groupNames(12), ns)
	after := model.SpreadOrder(groupNames(13), ns)
	changed := 0
	for g, o := range before {
		if after[g][0] != o[0] {
			changed++
		}
	}
	if changed > 6 {
		t.Errorf("adding one group moved %d of 12 masters", changed)
	}
}

func TestDesiredDualMaster(t *testing.T) {
	c := &model.Cluster{
		Nodes: nodes(2),
		VIPGroups: map[string]*model.VIPGroup{
			"web-a": {VRID: 51, VIPs: []model.VIP{{Address: "198.51.100.10/24"}}},
			"web-b": {VRID: 52, VIPs: []model.VIP{{Address: "198.51.100.11/24"}}},
		},
		Spread: map[string]*model.SpreadSet{"web": {Groups: []string{"web-b", "web-a"}, Nodes: []string{"n2", "n1"}}},
	}
	masterOf := map[string][]string{}
	for _, n := range []string{"n1", "n2"} {
		st := desired(t, c, n)
		if len(st.Instances) != 2 {
			t.Fatalf("%s: instances %v, want both groups", n, instanceNames(st))
		}
		for _, inst := range st.Instances {
			switch inst.Priority {
			case 200:
				masterOf[n] = append(masterOf[n], inst.Name)
			case 100:
			default:
				t.Errorf("%s/%s: priority %d, want 200 or 100", n, inst.Name, inst.Priority)
			}
			if inst.Preference[0].Priority != 200 || inst.Preference[1].Priority != 100 {
				t.Errorf("%s/%s: preference %v", n, inst.Name, inst.Preference)
			}
		}
	}
	if len(masterOf["n1"]) != 1 || len(masterOf["n2"]) != 1 {
		t.Errorf("masters %v: want each node preferred for exactly one group", masterOf)
	}
}

func TestDesiredSpreadPriorities(t *testing.T) {
	// Five groups on three nodes: priorities 200/150/100 follow the
	// spread order, and a node override still wins.
	gs := groupNames(5)
	c := &model.Cluster{Nodes: nodes(3), VIPGroups: map[string]*model.VIPGroup{},
		Spread: map[string]*model.SpreadSet{"s": {Groups: gs, Nodes: nodeNames(3)}}}
	for i, g := range gs {
		c.VIPGroups[g] = &model.VIPGroup{VRID: i + 1, VIPs: []model.VIP{{Address: fmt.Sprintf("198.51.100.%d", i+1)}}}
	}
	orders := model.SpreadOrder(gs, nodeNames(3))
	c.Nodes["n1"].Overrides = map[string]*model.NodeOverride{gs[0]: {Priority: ptr(42)}}
	for _, n := range nodeNames(3) {
		st := desired(t, c, n)
		for _, g := range gs {
			want := []int{200, 150, 100}[slices.Index(orders[g], n)]
			if n == "n1" && g == gs[0] {
				want = 42
			}
			if got := instance(t, st, g).Priority; int(got) != want {
				t.Errorf("%s/%s: priority %d, want %d (order %v)", n, g, got, want, orders[g])
			}
		}
	}
}
