package main

import (
	"encoding/json"
	"io"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// writeClusterStatus prints `status --cluster` from the local daemon's
// report (which holds what its peers reported); exit 2 unless every node
// answered and every VRRP group has exactly one master, every bgp group
// an announcer.
func writeClusterStatus(out io.Writer, r *status.Report, asJSON bool) error {
	v := status.Cluster(r)
	var err error
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	} else {
		err = status.WriteCluster(out, v)
	}
	if err != nil {
		return err
	}
	if !v.OK {
		return exitCodeError{exitChanges}
	}
	return nil
}
