// Package model owns the cluster description: its types, strict YAML
// decoding with file:line errors, defaults, validation, and the pure
// computation of one node's desired state. It performs no I/O.
package model
