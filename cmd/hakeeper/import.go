package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/render/keepalived"
)

func newImportCmd() *cobra.Command {
	var cluster, outDir, secretDir, iptablesSave string
	var addresses []string
	cmd := &cobra.Command{
		Use:   "import [--cluster NAME] [--out DIR] [--address NODE=IP]... NODE=PATH... | PATH",
		Short: "Import the keepalived.conf files of a cluster's nodes into one cluster description",
		Long: `Reads every node's keepalived.conf (NODE=PATH; a bare PATH takes the node name
from router_id or the file name), matches VRRP instances across nodes by VRID,
and writes one cluster description: YAML to stdout, or cluster.yaml in --out DIR.
Keywords that cannot be mapped and differences between nodes are printed as
warnings naming file:line (exit status stays 0). keepalived.conf does not state
a node's address unless it uses unicast_src_ip: give it with --address NODE=IP.
VRRP passwords are never copied; the warnings say where to put them.
keepalived.conf does not hold the iptables rules that mark the packets of
fwmark services: give them with --iptables-save FILE (iptables-save output
of a director) to import them as the services' match.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var srcs []keepalived.Source
			for _, a := range args {
				node, path, ok := strings.Cut(a, "=")
				if !ok {
					node, path = "", a
				}
				if path == "" {
					return fmt.Errorf("%q: want NODE=PATH or PATH", a)
				}
				srcs = append(srcs, keepalived.Source{Node: node, Path: path})
			}
			opts := keepalived.Options{Cluster: cluster, SecretDir: secretDir, IPTablesSave: iptablesSave, Addresses: map[string][]string{}}
			for _, a := range addresses {
				node, ip, ok := strings.Cut(a, "=")
				if !ok || node == "" || ip == "" {
					return fmt.Errorf("--address %q: want NODE=IP", a)
				}
				opts.Addresses[node] = append(opts.Addresses[node], ip)
			}
			res, err := keepalived.Import(srcs, opts)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			for _, w := range res.Warnings {
				fmt.Fprintln(stderr, "warning:", w)
			}
			out, err := keepalived.Marshal(res)
			if err != nil {
				return err
			}
			if outDir == "" {
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			// Atomically: --out may be a directory a daemon watches.
			path := filepath.Join(outDir, "cluster.yaml")
			if err := renameio.WriteFile(path, out, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "wrote %s (%d nodes, %d warnings)\n", path, len(res.Cluster.Nodes), len(res.Warnings))
			return nil
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "cluster name (default \"imported\")")
	cmd.Flags().StringVar(&outDir, "out", "", "write cluster.yaml into this directory instead of stdout")
	cmd.Flags().StringArrayVar(&addresses, "address", nil, "node address keepalived.conf does not state, NODE=IP (repeatable; IPv4 and IPv6)")
	cmd.Flags().StringVar(&iptablesSave, "iptables-save", "", "iptables-save output of a director: its mangle PREROUTING MARK rules become the match of the fwmark services (keepalived.conf does not hold them)")
	cmd.Flags().StringVar(&secretDir, "secret-dir", "", "directory the description reads VRRP passwords from (default /etc/hakeeper/secrets)")
	return cmd
}
