package main

import (
	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/schemas"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the cluster description",
		Long: `Schema prints the JSON Schema (draft 2020-12) of the cluster description,
for editors (yaml-language-server) and other tools. Put
  # yaml-language-server: $schema=PATH-OR-URL
at the top of a description file to get completion and checks while editing.`,
		Example: `  hakeeper schema > cluster.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(schemas.ClusterSchema)
			return err
		},
	}
}
