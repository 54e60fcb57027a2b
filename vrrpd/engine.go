package vrrpd

import (
	"context"
	"errors"

	"github.com/hakeeper/hakeeper/model"
)

// Engine runs the VRRP instances of one node.
//
// Lifecycle: New checks the Config and starts nothing. The first Apply
// starts the instances (opens Conns, starts receiving, arms timers);
// later Applys reconfigure them live. Run watches tracked interfaces and
// blocks until its context ends (then it shuts down gracefully) or until
// Shutdown is called. Instances run whether or not Run is running; only
// link changes go unnoticed without it. All methods are safe to call from
// any goroutine.
type Engine struct {
	cfg Config
}

// New returns an engine that runs nothing until Apply.
func New(cfg Config) (*Engine, error) {
	return &Engine{cfg: cfg}, nil
}

// Apply makes the engine run state.Instances. Instances are matched to
// the running ones by Instance.Key (interface, family, VRID), never by
// name.
func (e *Engine) Apply(state *model.NodeState) error {
	return errors.New("vrrpd: Apply not implemented yet")
}

// Run watches tracked links until ctx ends, then shuts down gracefully;
// it returns nil after a Shutdown.
func (e *Engine) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Shutdown stops every instance gracefully: masters send a priority-0
// advert and release the VIPs the engine added; stop hooks run. It
// returns when hooks have finished or ctx ends.
func (e *Engine) Shutdown(ctx context.Context) error { return nil }

// Status returns a snapshot of every instance, sorted by name.
func (e *Engine) Status() []InstanceStatus { return nil }

// Drops returns the packets not attributable to an instance.
func (e *Engine) Drops() UnattributedDrops { return nil }
