package lvs

import "fmt"

// Programmer keeps one IPVS table in line with a desired table, owning
// what it creates. The ownership record at StatePath survives restarts:
// a restarted hakeeper finds its services owned and in sync, plans no
// writes and never flushes, so traffic is not interrupted.
//
// A service in the kernel whose key matches a desired service but which
// is not in the record is someone else's: it is reported as a conflict
// and left alone, unless Adopt is set, in which case it is taken over
// (and then updated to match). Services not owned and not desired are
// reported as unmanaged and never touched.
type Programmer struct {
	IPVS IPVS
	// StatePath is the ownership record, e.g. <state-dir>/ipvs-owned.json.
	StatePath string
	Adopt     bool
}

// Plan reads the kernel and the ownership record and returns what Sync
// would do, writing nothing.
func (p *Programmer) Plan(desired []VirtualServer) (Plan, error) {
	plan, _, err := p.plan(desired)
	return plan, err
}

// plan is Plan that also returns the ownership record it read.
func (p *Programmer) plan(desired []VirtualServer) (Plan, Owned, error) {
	owned, err := LoadOwned(p.StatePath)
	if err != nil {
		return Plan{}, nil, err
	}
	live, err := ReadTable(p.IPVS)
	if err != nil {
		return Plan{}, nil, err
	}
	plan, err := Diff(desired, live, owned, DiffOptions{Adopt: p.Adopt})
	return plan, owned, err
}

// Sync plans and applies. The services about to be created and adopted
// are recorded as owned before any write, so a crash mid-way never leaves
// a service of ours that a restart would take for someone else's; keys of
// deleted and forgotten services are dropped after. It returns the plan
// and how many of its operations were done.
func (p *Programmer) Sync(desired []VirtualServer) (Plan, int, error) {
	plan, owned, err := p.plan(desired)
	if err != nil {
		return Plan{}, 0, err
	}
	changed := len(plan.Adopted) > 0
	for _, k := range plan.Adopted {
		owned[k] = struct{}{}
	}
	for _, op := range plan.Ops {
		if op.Kind == OpAddService {
			owned[op.Service.Key()] = struct{}{}
			changed = true
		}
	}
	if changed {
		if err := SaveOwned(p.StatePath, owned); err != nil {
			return plan, 0, fmt.Errorf("record IPVS ownership: %w", err)
		}
	}

	done, applyErr := Apply(p.IPVS, plan.Ops)

	changed = len(plan.Forgotten) > 0
	for _, k := range plan.Forgotten {
		delete(owned, k)
	}
	for _, op := range plan.Ops[:done] {
		if op.Kind == OpDeleteService {
			delete(owned, op.Service.Key())
			changed = true
		}
	}
	// A create the kernel refused (typically EEXIST: someone else made
	// the service meanwhile) must not leave us owning theirs.
	if applyErr != nil && plan.Ops[done].Kind == OpAddService {
		delete(owned, plan.Ops[done].Service.Key())
		changed = true
	}
	if changed {
		if err := SaveOwned(p.StatePath, owned); err != nil && applyErr == nil {
			return plan, done, fmt.Errorf("record IPVS ownership: %w", err)
		}
	}
	return plan, done, applyErr
}
