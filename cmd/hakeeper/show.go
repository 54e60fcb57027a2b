package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/render"
)

func newShowCmd() *cobra.Command {
	var node string
	var asJSON, listNodes bool
	cmd := &cobra.Command{
		Use:   "show [--node NAME] [--json] PATH",
		Short: "Show the desired state of one node",
		Long: `Show computes what one node must run from the cluster description and
prints it: for each VIP group the VRID, interface, timers, this node's
priority and the full preference order (who takes over next), VIPs and
tracking; for each virtual service the scheduler, forwarding, persistence
and real servers with their weights and checks.

The node defaults to the one whose address is on a local interface (if
several are, --node must choose), else the one named like this host. --json prints the state in the JSON form
every other part of hakeeper consumes. Warnings about the description go
to stderr as validate prints them.`,
		Example: `  hakeeper show cluster.yaml
  hakeeper show --node lb2 ./cluster/
  hakeeper show --node lb1 --json cluster.yaml | jq '.instances[].priority'
  hakeeper show --list-nodes cluster.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if listNodes {
				c, err := loadCluster(args[0])
				if err != nil {
					return inDescription(args[0], err)
				}
				printWarnings(cmd.ErrOrStderr(), c)
				for _, n := range slices.Sorted(maps.Keys(c.Nodes)) {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
				return nil
			}
			ns, err := desiredFor(args[0], node, cmd.ErrOrStderr())
			if err != nil {
				return inDescription(args[0], err)
			}
			if asJSON {
				return render.JSON(cmd.OutOrStdout(), ns)
			}
			return render.ShowText(cmd.OutOrStdout(), ns)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "node to show (default: the node whose address is local, else the hostname; see docs/operations.md)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the desired state as JSON")
	cmd.Flags().BoolVar(&listNodes, "list-nodes", false, "print the cluster's node names, one a line, and exit")
	return cmd
}
