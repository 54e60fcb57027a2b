package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time (make build: -X main.version=$(git describe)).
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the hakeeper version",
		Example: "  hakeeper version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "hakeeper %s (%s, %s/%s)\n", version, buildRevision(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// buildRevision is the VCS revision Go stamped into the binary, if any.
func buildRevision() string {
	rev, dirty := "unknown revision", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
