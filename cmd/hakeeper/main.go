// Command hakeeper is the declarative HA controller: validate, plan, show,
// run. main stays thin; each subcommand lives in its own file and registers
// itself with addCommand in an init function.
package main

import (
	"os"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}
