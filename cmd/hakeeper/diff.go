package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/clusterdiff"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/render"
)

func newDiffCmd() *cobra.Command {
	var repo, descPath string
	var asJSON, markdown bool
	cmd := &cobra.Command{
		Use:   "diff [--repo DIR [--path PATH]] [--json | --markdown] OLD NEW",
		Short: "Review a change of the description for every node: plans, VIPs changing master, services recreated",
		Long: `Diff compares two revisions of the cluster description for every node at
once, offline: OLD and NEW are two paths, or with --repo two revisions of
a Git repository (a branch, tag, commit, origin/main, HEAD~1), read from
its objects without a checkout.

It prints what the change does to the cluster, then each changed node's
plan as 'plan' prints it (between the two desired states, as a daemon
that applied OLD would make it):
  - VIPs changing master, from which node to which and why: priority
    (or a tracked weight), spread (the spread set changed), membership
    (the holder left the group or the new one joined), group (the VIP
    moved to another group), added or removed;
  - IPVS services created, deleted, recreated (an identity field changed:
    family, protocol, address, port, fwmark; connections are reset) or
    whose real servers are added, removed, drained or reweighted, with
    the share of new connections that move;
  - VIP groups recreated (vrid, interface or family changed): their VIPs
    are held by nobody for up to the new master's master-down interval;
  - the nodes that need no change.
The master is the election's winner with every node healthy: highest
priority with the positive weights of tracked links and checks, then
the higher address; with preempt off the current master keeps the VIPs.

--json prints the stable machine format (docs/operations.md), --markdown
a pull-request comment (docs/ci-review.md). Warnings of NEW go to stderr.

Exit status like plan: 0 no node changes, 1 error (an invalid revision:
its problems as FILE:LINE:COL: FIELD: MESSAGE), 2 changes.`,
		Example: `  hakeeper diff old/cluster.yaml new/cluster.yaml
  hakeeper diff --repo . origin/main HEAD
  hakeeper diff --repo . --path clusters/prod --markdown origin/main HEAD > comment.md`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON && markdown {
				return errors.New("--json and --markdown exclude each other")
			}
			if descPath != "" && repo == "" {
				return errors.New("--path needs --repo: without it OLD and NEW are paths")
			}
			old, oldName, err := loadRevision(cmd, repo, descPath, args[0])
			if err != nil {
				return err
			}
			new, newName, err := loadRevision(cmd, repo, descPath, args[1])
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), new)
			d, err := clusterdiff.Compare(old, new, oldName, newName)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case asJSON:
				err = render.JSON(out, d)
			case markdown:
				err = render.DiffMarkdown(out, d)
			default:
				err = render.DiffText(out, d)
			}
			if err != nil {
				return err
			}
			if d.HasChanges() {
				return exitCodeError{exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "read OLD and NEW as revisions of the Git repository containing this directory")
	cmd.Flags().StringVar(&descPath, "path", "", "with --repo: the description's file or directory inside the repository (default: its root)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the diff in its JSON machine format")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the diff as Markdown for a pull-request comment")
	return cmd
}

// loadRevision reads and validates one side of a diff: a path, or with
// repo a revision of it. It returns the description and its name in the
// output ("HEAD (1a2b3c4)" for a revision).
func loadRevision(cmd *cobra.Command, repo, descPath, arg string) (*model.Cluster, string, error) {
	if repo == "" {
		c, err := loadCluster(arg)
		return c, arg, inDescription(arg, err)
	}
	rev, err := source.ReadCommit(cmd.Context(), repo, arg, descPath)
	if err != nil {
		return nil, "", err
	}
	name := fmt.Sprintf("%s (%s)", arg, source.ShortID(rev.ID))
	c, err := model.Load(rev.Files)
	if err != nil {
		return nil, "", fmt.Errorf("revision %s: cluster description %w", name, err)
	}
	return c, name, nil
}

func newSimulateCmd() *cobra.Command {
	var f clusterdiff.Failures
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "simulate [--fail-node NODE]... [--fail-check CHECK[@NODE]]... [--fail-server ADDR[:PORT]]... [--json] PATH",
		Short: "Predict who holds each VIP and what each service serves when nodes, checks or real servers fail",
		Long: `Simulate answers "what if" from the description alone, offline: with the
given nodes crashed, tracked checks failing (on every node running them,
or on one with CHECK@NODE) and real servers failing their health checks
(an address, every port, or ADDRESS:PORT), it shows for every VIP group
who holds the VIPs, why, and the predicted failover window from the
group's timers, and for every service whether it keeps its quorum and
who serves its clients.

The window follows vrrpd's timers (RFC 5798; VRRPv2's skew counts whole
seconds, RFC 3768): a crashed master is replaced after the new master's
master-down interval, 3 advert intervals + skew, skew = (256-priority)/256
of an interval; a master faulted by a check resigns with a priority-0
advert, so the backup takes over after the skew only, once the check has
failed fall times an interval apart; a master whose priority drops below
a preempting backup's keeps the VIPs until that backup's master-down
interval has run out.

Exit status: 0 every VIP group held and every service above its quorum,
1 error, 2 degraded (a VIP group held by nobody, or a service without a
holder or below its quorum).`,
		Example: `  hakeeper simulate --fail-node lb1 cluster.yaml
  hakeeper simulate --fail-check nginx@web1 --fail-server 10.0.0.11 cluster.yaml
  hakeeper simulate --fail-node lb1 --json cluster.yaml | jq '.groups'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadCluster(args[0])
			if err != nil {
				return inDescription(args[0], err)
			}
			printWarnings(cmd.ErrOrStderr(), c)
			s, err := clusterdiff.Simulate(c, f)
			if err != nil {
				return err
			}
			if asJSON {
				err = render.JSON(cmd.OutOrStdout(), s)
			} else {
				err = render.SimulateText(cmd.OutOrStdout(), s)
			}
			if err != nil {
				return err
			}
			if s.Degraded() {
				return exitCodeError{exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&f.Nodes, "fail-node", nil, "a node that crashed (repeatable)")
	cmd.Flags().StringArrayVar(&f.Checks, "fail-check", nil, "a tracked check failing, CHECK on every node or CHECK@NODE (repeatable)")
	cmd.Flags().StringArrayVar(&f.RealServers, "fail-server", nil, "a real server failing its health check, ADDR or ADDR:PORT (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the simulation in its JSON machine format")
	return cmd
}
