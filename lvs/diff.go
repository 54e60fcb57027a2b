package lvs

import (
	"cmp"
	"fmt"
	"slices"
)

// OpKind is what an operation does.
type OpKind uint8

const (
	OpAddService OpKind = iota + 1
	OpUpdateService
	OpDeleteService
	OpAddDestination
	OpUpdateDestination
	OpDeleteDestination
)

func (k OpKind) String() string {
	switch k {
	case OpAddService:
		return "add-service"
	case OpUpdateService:
		return "update-service"
	case OpDeleteService:
		return "delete-service"
	case OpAddDestination:
		return "add-destination"
	case OpUpdateDestination:
		return "update-destination"
	case OpDeleteDestination:
		return "delete-destination"
	}
	return fmt.Sprintf("op%d", uint8(k))
}

// Op is one IPVS write, kept as a value so a plan can show it before it
// runs.
type Op struct {
	Kind OpKind
	// Name labels the service (the model's service name; empty for a
	// service only the kernel knows).
	Name string
	// Service is the service written (the new one for add and update,
	// the one in the kernel otherwise); destination operations act on it.
	Service Service
	// OldService is the service before an update.
	OldService Service
	// Destination is the new destination for add and update, the one in
	// the kernel for delete.
	Destination Destination
	// OldDestination is the destination before an update.
	OldDestination Destination
}

// String renders the operation for a plan: "+ service tcp/192.0.2.10:80 wlc",
// "~ destination 10.0.0.1:80 weight 1 → 5 (service tcp/192.0.2.10:80)".
func (o Op) String() string {
	key := o.Service.Key()
	switch o.Kind {
	case OpAddService:
		return "+ service " + o.Service.String()
	case OpDeleteService:
		return "- service " + o.Service.String()
	case OpUpdateService:
		return "~ service " + key.String() + " " + serviceChanges(o.OldService.Normalize(), o.Service.Normalize())
	case OpAddDestination:
		return fmt.Sprintf("+ destination %s (service %s)", o.Destination, key)
	case OpDeleteDestination:
		return fmt.Sprintf("- destination %s (service %s)", o.Destination, key)
	case OpUpdateDestination:
		return fmt.Sprintf("~ destination %s %s (service %s)", o.Destination.Key(),
			destinationChanges(o.OldDestination.Normalize(), o.Destination.Normalize()), key)
	}
	return o.Kind.String()
}

// changeList joins "field old → new" phrases with commas.
type changeList []byte

// add adds the phrase for a field whose value went from old to new, if
// it changed.
func (c *changeList) add(format string, old, new any) {
	if old == new {
		return
	}
	if len(*c) > 0 {
		*c = append(*c, ", "...)
	}
	*c = fmt.Appendf(*c, format, old, new)
}

func serviceChanges(a, b Service) string {
	var out changeList
	out.add("scheduler %s → %s", a.Scheduler, b.Scheduler)
	out.add("flags %s → %s", a.Flags, b.Flags)
	out.add("timeout %ds → %ds", a.Timeout, b.Timeout)
	out.add("netmask /%d → /%d", a.Netmask, b.Netmask)
	return string(out)
}

func destinationChanges(a, b Destination) string {
	var out changeList
	out.add("weight %d → %d", a.Weight, b.Weight)
	out.add("forwarding %s → %s", a.Forwarding, b.Forwarding)
	out.add("upper threshold %d → %d", a.UpperThreshold, b.UpperThreshold)
	out.add("lower threshold %d → %d", a.LowerThreshold, b.LowerThreshold)
	return string(out)
}

// Plan is the outcome of Diff: the writes to make, in order, and what was
// found but is left alone.
type Plan struct {
	Ops []Op
	// Adopted are services present in the kernel, not owned, matching a
	// desired key, taken over because DiffOptions.Adopt was set.
	Adopted []ServiceKey
	// Conflicts are desired services whose key is held by a service
	// hakeeper does not own (and may not adopt): neither touched nor
	// created.
	Conflicts []VirtualServer
	// Unmanaged are services nobody desires and hakeeper does not own;
	// they are never touched.
	Unmanaged []Service
	// Forgotten are owned keys that are neither in the kernel nor desired:
	// the ownership record drops them.
	Forgotten []ServiceKey
}

// Empty reports whether the plan writes nothing.
func (p *Plan) Empty() bool { return len(p.Ops) == 0 }

// DiffOptions tune Diff.
type DiffOptions struct {
	// Adopt takes over a service hakeeper does not own when its key is
	// exactly a desired service's key, instead of reporting a conflict.
	// Meant for migrating from keepalived or a crash that lost the
	// ownership record.
	Adopt bool
}

// Diff computes the minimal ordered operations that take the live table to
// the desired one, touching only services hakeeper owns (or adopts).
//
// Minimal: a table in sync gives no operations; each changed field of a
// service or destination gives exactly one update; a scheduler or flag
// change updates the service in place, never delete and re-create.
//
// Ordered so traffic is never without a destination when one is desired:
// new services are created with their destinations first; then, per
// existing service, its update, added destinations, updated ones and only
// then deleted ones; services no longer desired are deleted last.
//
// Desired entries must have distinct service keys and, within a service,
// distinct destination keys; Diff returns an error naming the service
// otherwise.
func Diff(desired, live []VirtualServer, owned Owned, opts DiffOptions) (Plan, error) {
	var plan Plan
	liveIndex := make(map[ServiceKey]int, len(live))
	for i := range live {
		liveIndex[live[i].Service.Key()] = i
	}
	desiredIndex := make(map[ServiceKey]int, len(desired))
	// New services go first, each with its destinations; changes to
	// existing services, in place, follow all of them.
	var changes []Op
	for i := range desired {
		d := &desired[i]
		k := d.Service.Key()
		if j, dup := desiredIndex[k]; dup {
			return Plan{}, fmt.Errorf("services %q and %q are both IPVS service %s", desired[j].Name, d.Name, k)
		}
		desiredIndex[k] = i
		if err := checkDestinations(d); err != nil {
			return Plan{}, err
		}
		j, isLive := liveIndex[k]
		if !isLive {
			svc := d.Service.Normalize()
			plan.Ops = append(plan.Ops, Op{Kind: OpAddService, Name: d.Name, Service: svc})
			for _, dst := range d.Destinations {
				plan.Ops = append(plan.Ops, Op{Kind: OpAddDestination, Name: d.Name, Service: svc, Destination: dst.Normalize()})
			}
			continue
		}
		if !owned.Has(k) {
			if !opts.Adopt {
				plan.Conflicts = append(plan.Conflicts, *d)
				continue
			}
			plan.Adopted = append(plan.Adopted, k)
		}
		want, have := d.Service.Normalize(), live[j].Service.Normalize()
		if want != have {
			changes = append(changes, Op{Kind: OpUpdateService, Name: d.Name, Service: want, OldService: have})
		}
		changes = diffDestinations(changes, d.Name, want, d.Destinations, live[j].Destinations)
	}
	plan.Ops = append(plan.Ops, changes...)

	// Services no longer desired: owned ones go, others are reported.
	var gone []Service
	for i := range live {
		k := live[i].Service.Key()
		if _, ok := desiredIndex[k]; ok {
			continue
		}
		if owned.Has(k) {
			gone = append(gone, live[i].Service.Normalize())
		} else {
			plan.Unmanaged = append(plan.Unmanaged, live[i].Service.Normalize())
		}
	}
	slices.SortFunc(gone, compareServices)
	for _, svc := range gone {
		plan.Ops = append(plan.Ops, Op{Kind: OpDeleteService, Service: svc})
	}
	slices.SortFunc(plan.Unmanaged, compareServices)

	for k := range owned {
		_, isLive := liveIndex[k]
		_, isDesired := desiredIndex[k]
		if !isLive && !isDesired {
			plan.Forgotten = append(plan.Forgotten, k)
		}
	}
	slices.SortFunc(plan.Forgotten, compareKeys)
	return plan, nil
}

// smallTable is the size up to which destinations are matched by linear
// scan: cheaper than a map for the usual handful, and allocation-free.
const smallTable = 16

// destinationIndex finds destinations by key: by linear scan in a small
// table, through a map in a larger one.
type destinationIndex struct {
	dests []Destination
	byKey map[DestinationKey]int // nil up to smallTable
}

func indexDestinations(dests []Destination) destinationIndex {
	x := destinationIndex{dests: dests}
	if len(dests) > smallTable {
		x.byKey = make(map[DestinationKey]int, len(dests))
		for i := range dests {
			if _, dup := x.byKey[dests[i].Key()]; !dup {
				x.byKey[dests[i].Key()] = i
			}
		}
	}
	return x
}

// find returns the index of the first destination with key k, or -1.
func (x destinationIndex) find(k DestinationKey) int {
	if x.byKey != nil {
		if i, ok := x.byKey[k]; ok {
			return i
		}
		return -1
	}
	for i := range x.dests {
		if x.dests[i].Key() == k {
			return i
		}
	}
	return -1
}

// checkDestinations rejects duplicate destination keys in a desired service.
func checkDestinations(vs *VirtualServer) error {
	index := indexDestinations(vs.Destinations)
	for i := range vs.Destinations {
		if k := vs.Destinations[i].Key(); index.find(k) != i {
			return fmt.Errorf("service %q (%s) lists destination %s twice", vs.Name, vs.Service.Key(), k)
		}
	}
	return nil
}

// diffDestinations appends the destination changes of one service: adds,
// then updates, then deletes.
func diffDestinations(ops []Op, name string, svc Service, want, have []Destination) []Op {
	haveIndex := indexDestinations(have)
	matched := 0
	var updates []Op
	for i := range want {
		w := want[i].Normalize()
		j := haveIndex.find(w.Key())
		if j < 0 {
			ops = append(ops, Op{Kind: OpAddDestination, Name: name, Service: svc, Destination: w})
			continue
		}
		matched++
		if h := have[j].Normalize(); h != w {
			updates = append(updates, Op{Kind: OpUpdateDestination, Name: name, Service: svc, Destination: w, OldDestination: h})
		}
	}
	ops = append(ops, updates...)
	if matched == len(have) {
		return ops
	}
	wantIndex := indexDestinations(want)
	for i := range have {
		if wantIndex.find(have[i].Key()) < 0 {
			ops = append(ops, Op{Kind: OpDeleteDestination, Name: name, Service: svc, Destination: have[i].Normalize()})
		}
	}
	return ops
}

func compareServices(a, b Service) int { return compareKeys(a.Key(), b.Key()) }

// compareKeys orders service keys: family, fwmark, protocol, address, port.
func compareKeys(a, b ServiceKey) int {
	return cmp.Or(
		cmp.Compare(a.Family, b.Family),
		cmp.Compare(a.FWMark, b.FWMark),
		cmp.Compare(a.Protocol, b.Protocol),
		a.Address.Compare(b.Address),
		cmp.Compare(a.Port, b.Port),
	)
}
