package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/render/keepalived"
)

// newRenderCmd is the parent of renderers for other tools' configuration.
func newRenderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Write another tool's configuration for one node of the cluster",
	}
	cmd.AddCommand(newRenderKeepalivedCmd())
	return cmd
}

func newRenderKeepalivedCmd() *cobra.Command {
	var node string
	var withSecrets bool
	cmd := &cobra.Command{
		Use:   "keepalived --node NAME PATH",
		Short: "Write the keepalived.conf that makes keepalived do what hakeeper does on a node",
		Long: `Loads the cluster description at PATH (a file or a directory), computes the
node's desired state and writes the equivalent keepalived.conf to stdout.
VRRP passwords are written as a marked placeholder unless --with-secrets reads
them from their secretFile or secretEnv. Settings keepalived cannot express
appear as "# hakeeper:" comments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if node == "" {
				return fmt.Errorf("--node is required")
			}
			c, err := loadCluster(args[0])
			if err != nil {
				return err
			}
			st, err := model.Desired(c, node)
			if err != nil {
				return err
			}
			out, err := keepalived.Render(st, keepalived.RenderOptions{WithSecrets: withSecrets})
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "node to render (a key of nodes:)")
	cmd.Flags().BoolVar(&withSecrets, "with-secrets", false, "read VRRP passwords into auth_pass (the output then contains secrets)")
	return cmd
}
