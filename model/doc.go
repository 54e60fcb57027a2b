// Package model owns the cluster description: its types, strict YAML
// decoding with file:line errors, defaults, validation, and the pure
// computation of one node's desired state. It performs no I/O.
//
// Where each part lives:
//
//   - The format, as a user writes it: cluster.go (Cluster and every
//     section's types), types.go (the value types with their own YAML and
//     JSON forms: Duration, StatusCodes, Command, VIP, and the enums; File,
//     Pos, Error and ErrorList), defaults.go (built-in defaults).
//   - Decoding: load.go (Load, the one entry point: decode then validate),
//     decode.go (the strict decoder from yaml.v3 node trees into the
//     format's types), decode_syntax.go (bytes to a node tree, and syntax
//     errors with a line), sources.go (Sources: where each path was
//     written), suggest.go ("did you mean").
//   - Validation: validate.go.
//   - Resolution for one node: desired.go (Desired: validate, then
//     resolve with the validator's indexes), spread.go (balanced
//     preference orders for spread sets), state.go (NodeState and the types
//     it holds), state_json.go (their JSON form).
package model
