package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/render"
)

func newPlanCmd() *cobra.Command {
	var node, addr, stateDir string
	var offline, asJSON, color bool
	cmd := &cobra.Command{
		Use:   "plan [--node NAME] [--offline] [--json] PATH",
		Short: "Show what would change on a node to reach the described state",
		Long: `Plan computes a node's desired state from the cluster description and
compares it with what the node runs, then lists the changes like Terraform:
VRRP instances grouped by VIP group, virtual services with their real
servers; + create, ~ update in place (old -> new), - destroy.

--offline compares with an empty node: everything is created. Without it
the live state is observed from the node; the running daemon is asked at
--addr, the status address it was started with (its --listen). Which
IPVS services are hakeeper's is read from the daemon's state directory
(as it reports it; --state-dir overrides).

VIPs are not planned as addresses: the VRRP engine adds them on the node
that becomes master, so they are listed with their instance.

What is valid in the description but probably not meant is printed to
stderr as by validate ("warning: FILE:LINE:COL: ..."), leaving stdout and
the exit status alone.

Exit status (like terraform plan -detailed-exitcode): 0 no changes,
1 error, 2 changes pending.`,
		Example: `  hakeeper plan --offline --node lb1 cluster.yaml
  hakeeper plan --offline --json ./cluster/ | jq '.summary'
  hakeeper plan --offline cluster.yaml; echo "exit $?"   # 2: changes pending`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := desiredFor(args[0], node, cmd.ErrOrStderr())
			if err != nil {
				return inDescription(args[0], err)
			}
			live := &plan.Live{}
			if !offline {
				if live, err = observeNode(cmd.Context(), ns, args[0], addr, stateDir, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			p := plan.Diff(ns, live)
			out := cmd.OutOrStdout()
			if asJSON {
				err = render.JSON(out, p)
			} else {
				if !cmd.Flags().Changed("color") {
					color = isTerminal(out) && os.Getenv("NO_COLOR") == ""
				}
				err = render.PlanText(out, p, render.Options{Color: color})
			}
			if err != nil {
				return err
			}
			if p.HasChanges() {
				return exitCodeError{exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "node to plan for (default: the node whose address is local, else the hostname; see docs/operations.md)")
	cmd.Flags().BoolVar(&offline, "offline", false, "plan against an empty node instead of the live state")
	cmd.Flags().StringVar(&addr, "addr", statusAddr(), "the running daemon's status address (host:port or unix:/path; env HAKEEPER_ADDR)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "the daemon's state directory, where IPVS ownership is recorded (default: the one the running daemon reports, else "+defaultRuntimeDir+"/NODE as 'hakeeper run' uses for a local source)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan in its JSON machine format")
	cmd.Flags().BoolVar(&color, "color", false, "colour the text output (default: on for a terminal unless NO_COLOR is set)")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
