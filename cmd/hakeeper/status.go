package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// statusAddr is the daemon's status address as the CLI finds it: the
// HAKEEPER_ADDR environment variable, else the default.
func statusAddr() string {
	if a := os.Getenv("HAKEEPER_ADDR"); a != "" {
		return a
	}
	return status.DefaultAddr
}

func newStatusCmd() *cobra.Command {
	var addr string
	var asJSON, cluster bool
	cmd := &cobra.Command{
		Use:   "status [--addr ADDR] [--json]",
		Short: "Show what the running hakeeper on this node is doing",
		Long: `status asks the running 'hakeeper run' on this node for its report: the
applied and fetched revisions, the last reconcile and the last error (with
file:line and revision), every VIP group's VRRP state, priority and master
with a line per tracked interface or check saying what it does to the
priority, each tracked check's results, every real server's health and
the weight programmed in IPVS, and drift repairs. --json prints the
report as the daemon serves it at /status.

Exit status: 0 healthy, 1 not running or unreachable, 2 running but
degraded: the newest revision was refused, the last pass failed, or a
VIP group needs an operator (split brain suspected: adverts for its VRID
rejected for another password, version or interval; or faulted because
its advert cannot be encoded). Each such group has a line saying why
under it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := status.NewClient(addr).Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cluster {
				return writeClusterStatus(out, r, asJSON)
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				err = enc.Encode(r)
			} else {
				err = status.WriteText(out, r, time.Now())
			}
			if err != nil {
				return err
			}
			if !r.Healthy {
				return exitCodeError{exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", statusAddr(), "the daemon's status address (host:port or unix:/path; env HAKEEPER_ADDR)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON report")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "show every node as the peer channel reports it, and check exactly one master per VIP group (exit 2 when not, or when a node that may hold one does not answer)")
	return cmd
}
