// Package schemas owns the JSON Schema of the cluster description
// (cluster.schema.json, draft 2020-12): editors use it for completion and
// hover documentation, and the CLI prints it. The schema is never
// stricter than model.Load on a valid description; tests in this package
// hold it to that and to the model's field names.
package schemas

import _ "embed"

// ClusterSchema is the JSON Schema document.
//
//go:embed cluster.schema.json
var ClusterSchema []byte
