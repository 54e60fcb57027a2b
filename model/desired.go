package model

import "errors"

// Desired computes one node's desired state from a validated cluster.
// PLACEHOLDER: being replaced by the real computation.
func Desired(c *Cluster, node string) (*NodeState, error) {
	return nil, errors.New("model.Desired: not implemented yet")
}
