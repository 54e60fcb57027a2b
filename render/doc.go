// Package render owns hakeeper's output for people and machines: the
// Terraform-style plan text and its JSON form, and `show`, a node's
// desired state as a readable report or JSON. Renderers only format; the
// plan itself is computed by reconcile/plan, the state by model.Desired.
// Sub-packages render other formats (render/keepalived: keepalived.conf).
package render
