package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
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

var commandFactories []func() *cobra.Command

// addCommand registers a subcommand; call it from an init function.
func addCommand(f func() *cobra.Command) { commandFactories = append(commandFactories, f) }

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
	for _, f := range commandFactories {
		root.AddCommand(f())
	}
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
	fmt.Fprintln(stderr, "Error:", err)
	return exitError
}
