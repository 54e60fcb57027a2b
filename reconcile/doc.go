// Package reconcile turns a cluster description into kernel state on one
// node: it reads the description from its source (a Git repository or a
// watched directory), computes the node's desired state, observes the live
// state, diffs, plans and applies only the changes, in a loop.
package reconcile
