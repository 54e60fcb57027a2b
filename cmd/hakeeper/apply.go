package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

func newApplyCmd() *cobra.Command {
	var o runOptions
	var addr string
	cmd := &cobra.Command{
		Use:   "apply [--node NAME] PATH|URL",
		Short: "Apply a cluster description to this node once and exit",
		Long: `apply reads the description (a YAML file, a directory, or a Git URL with
--branch/--tag/--path), resolves this node's desired state and programs
what a single pass can: the IPVS virtual services and their real servers,
every server counted as up (no health checks run), and the rules marking
fwmark services' traffic. It prints each IPVS and rule write. VRRP needs
a running protocol, so VRRP instances are reported and left to
'hakeeper run'.

apply refuses to run beside a running 'hakeeper run' (found at --addr, or
holding the lock on the state directory): that daemon owns the node;
change its source instead, or send it SIGHUP.

Warnings about the description go to stderr as validate prints them.

Services that apply (or run) created and the description no longer gives
this node are deleted, also when none is left.

Exit status: 0 applied or nothing to do, 1 error (nothing is applied when
the description does not load), also when an IPVS service hakeeper does
not own holds a desired service's key: the rest is applied, that service
is left alone and named; --adopt-ipvs takes it over.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr, stdout := cmd.ErrOrStderr(), cmd.OutOrStdout()
			if _, err := status.NewClient(addr).Status(cmd.Context()); err == nil {
				return fmt.Errorf("hakeeper run is running on this node (%s) and owns its state: change its source or send it SIGHUP", addr)
			} else if !errors.Is(err, status.ErrNotRunning) {
				return fmt.Errorf("checking for a running daemon at %s: %w", addr, err)
			}
			o.source = args[0]
			srcOpts := o
			if isGitURL(o.source) {
				// A one-shot clone: the daemon's clone in the state
				// directory is its own.
				dir, err := os.MkdirTemp("", "hakeeper-apply-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				srcOpts.stateDir = dir
			}
			src, err := runSource(srcOpts)
			if err != nil {
				return err
			}
			rev, err := src.Latest(cmd.Context())
			if err != nil {
				return err
			}
			c, err := model.Load(rev.Files)
			if err != nil {
				return err
			}
			ns, err := resolveNode(c, o.node, stderr)
			if err != nil {
				return err
			}
			if n := len(ns.Instances); n > 0 {
				fmt.Fprintf(stderr, "note: %d VRRP instance(s) of node %s need the daemon ('hakeeper run'); not applied\n", n, ns.Node)
			}
			if ns.RealServer != nil {
				fmt.Fprintf(stderr, "note: the real-server role of node %s is kept by the daemon ('hakeeper run'); not applied\n", ns.Node)
			}
			if ns.BGP != nil {
				fmt.Fprintf(stderr, "note: the BGP announcements of node %s need the daemon ('hakeeper run'); not applied\n", ns.Node)
			}
			if ns.ConnectionSync != nil {
				fmt.Fprintf(stderr, "note: the IPVS sync daemon of node %s follows VRRP, which needs the daemon ('hakeeper run'); not applied\n", ns.Node)
			}
			// The same state directory as 'hakeeper run' with this source
			// and node, so ownership agrees; its lock keeps apply from
			// running beside a daemon the status address did not find.
			stateDir := o.stateDirFor(ns.Node)
			record := filepath.Join(stateDir, ipvsRecord)
			if len(ns.Services) == 0 {
				// Services apply created earlier must go, as run removes
				// them; only with none owned is there nothing to do.
				owned, err := lvs.LoadOwned(record)
				if err != nil {
					return err
				}
				if len(owned) == 0 {
					fmt.Fprintf(stdout, "Node %s: no virtual services; nothing to apply.\n", ns.Node)
					return nil
				}
			}
			lock, err := lockStateDir(stateDir)
			if err != nil {
				if errors.Is(err, errStateLocked) {
					return fmt.Errorf("%w; change its source or send it SIGHUP instead", err)
				}
				return err
			}
			defer lock.Close()
			k, closeIPVS, err := openIPVS()
			if err != nil {
				return fmt.Errorf("%d virtual services to program: %w", len(ns.Services), err)
			}
			defer closeIPVS()
			prog := &lvs.Programmer{IPVS: k, StatePath: record, Adopt: o.adoptIPVS}
			plan, done, err := prog.Sync(lvs.TableFromModel(ns.Services))
			for _, op := range plan.Ops[:done] {
				fmt.Fprintln(stdout, op.String())
			}
			if err != nil {
				return err
			}
			// The marking rules, kept as run keeps them; hakeeper's
			// nftables table is their ownership record.
			rules := marks.FromModel(ns.Services)
			t, err := openMarks()
			if err != nil && len(rules) > 0 {
				return fmt.Errorf("%d fwmark rules to program: %w", len(rules), err)
			} else if err == nil {
				mp, err := marks.Sync(t, rules)
				if err != nil {
					return fmt.Errorf("fwmark rules: %w", err)
				}
				for _, r := range mp.Delete {
					fmt.Fprintln(stdout, "- fwmark rule", r)
				}
				for _, r := range mp.Add {
					fmt.Fprintln(stdout, "+ fwmark rule", r)
				}
			}
			switch {
			case len(plan.Conflicts) > 0:
				fmt.Fprintf(stdout, "Node %s: %d IPVS operations applied; %d virtual services blocked.\n", ns.Node, done, len(plan.Conflicts))
			case done == 0:
				fmt.Fprintf(stdout, "Node %s: IPVS in sync, no changes.\n", ns.Node)
			default:
				fmt.Fprintf(stdout, "Node %s: %d IPVS operations applied (revision %s).\n", ns.Node, done, rev.ID)
			}
			if len(plan.Conflicts) == 0 {
				return nil
			}
			// The table is not what the description says: an error, not a note.
			for _, c := range plan.Conflicts {
				fmt.Fprintf(stderr, "blocked: %s (%s) exists in IPVS but is not hakeeper's; left alone\n", c.Name, c.Service.Key())
			}
			return fmt.Errorf("%d virtual services blocked by IPVS services hakeeper does not own; rerun with --adopt-ipvs to take them over", len(plan.Conflicts))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "node to apply for (default: the node whose address is local, else the hostname)")
	f.StringVar(&o.git.Branch, "branch", "", "Git branch (default main)")
	f.StringVar(&o.git.Tag, "tag", "", "Git tag instead of a branch")
	f.StringVar(&o.git.Path, "path", "", "directory inside the Git repository")
	f.StringVar(&o.stateDir, "state-dir", "", "the state directory of 'hakeeper run' on this node, where IPVS ownership is recorded (default as run's: "+defaultStateDir+" for a Git source, "+defaultRuntimeDir+"/NODE for a local one)")
	f.StringVar(&o.keyringFile, "keyring", "", "armored OpenPGP keyring: apply only a signed commit")
	f.BoolVar(&o.adoptIPVS, "adopt-ipvs", false, "take over existing IPVS services whose key matches a desired one")
	f.StringVar(&addr, "addr", statusAddr(), "where a running daemon would answer (env HAKEEPER_ADDR)")
	return cmd
}
