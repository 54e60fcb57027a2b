package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH",
		Short: "Check a cluster description for errors",
		Long: `Validate decodes and checks a cluster description (one YAML file, or a
directory whose *.yaml/*.yml files are merged) with the rules every node
applies before it computes its part, so whatever would stop a node from
running is reported here.
Every problem is printed on its own line as FILE:LINE:COLUMN: FIELD: MESSAGE;
what is valid but probably not meant is printed the same way after
"warning: ". Exit status: 0 valid (with or without warnings), 1 invalid.`,
		Example: `  hakeeper validate cluster.yaml
  hakeeper validate ./cluster/          # every *.yaml in the directory, merged`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			c, err := loadCluster(path)
			if err != nil {
				return inDescription(path, err)
			}
			printWarnings(cmd.ErrOrStderr(), c)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (%s, %s, %s)\n", path,
				plural(len(c.Nodes), "node"), plural(len(c.VIPGroups), "VIP group"), plural(len(c.Services), "service"))
			return nil
		},
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
