package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/model"
)

// Exit codes shared by every subcommand (plan follows Terraform's
// -detailed-exitcode: 2 means "changes pending").
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
)

// exitCodeError lets a subcommand choose its exit code without printing
// an error (plan's "changes pending").
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hakeeper",
		Short: "Declarative, GitOps-driven high availability: VRRP VIPs and IPVS services from one YAML cluster description",
		Long: `hakeeper keeps virtual IPs highly available with VRRP and load-balances
them to health-checked real servers with IPVS, like keepalived, from one
YAML description of the whole cluster kept in Git. Every node computes its
own part of that description and reconciles the kernel to it.`,
		Example: `  hakeeper validate cluster.yaml            # check the description
  hakeeper show --node lb1 cluster.yaml      # what lb1 must run
  hakeeper plan --offline --node lb1 cluster.yaml
  source <(hakeeper completion bash)         # shell completion`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidateCmd(), newShowCmd(), newPlanCmd(), newApplyCmd(), newRunCmd(), newStatusCmd(),
		newImportCmd(), newRenderCmd(), newSchemaCmd(), newDemoCmd(), newVersionCmd(),
		newDiffCmd(), newSimulateCmd())
	return root
}

// execute runs the CLI and returns the process exit code.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	reportError(stderr, err)
	return exitError
}

// reportError prints a failed command's error, the same way for every
// command: each problem found in a cluster description on its own line
// (FILE:LINE:COLUMN: FIELD: MESSAGE, which editors jump to), then one line
// "hakeeper: WHAT FAILED", in which the problems are counted.
func reportError(w io.Writer, err error) {
	msg := err.Error()
	if list := problems(err); len(list) > 0 {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		invalid := "invalid (" + plural(len(list), "error") + ")"
		if text := list.Error(); msg == text {
			msg = "cluster description " + invalid
		} else {
			msg = strings.Replace(msg, text, invalid, 1)
		}
	}
	fmt.Fprintln(w, "hakeeper: "+msg)
}

// inDescription names the description path in err when err lists its
// problems, so the closing line says which description is invalid; other
// errors (a missing file) already say what failed.
func inDescription(path string, err error) error {
	if problems(err) != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// problems returns the problems found in a description that err carries,
// a list or a single one, or nil when err is of another kind.
func problems(err error) model.ErrorList {
	var list model.ErrorList
	if errors.As(err, &list) {
		return list
	}
	var one *model.Error
	if errors.As(err, &one) {
		return model.ErrorList{one}
	}
	return nil
}
