// Command hakeeper is the declarative HA controller: validate, plan, show,
// run. main stays thin; each subcommand lives in its own file and newRootCmd
// lists them all.
package main

import (
	"os"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
