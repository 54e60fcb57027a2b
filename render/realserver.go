package render

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// showRealServer writes the node's part as a real server: the VIPs it
// holds and the sysctls it needs, and the nat services that need nothing.
func showRealServer(w *bufio.Writer, role *model.RealServerRole) {
	if role == nil {
		return
	}
	fmt.Fprintf(w, "\nReal server\n")
	a := attrs{w, "  "}
	vips := make([]string, len(role.VIPs))
	for i, v := range role.VIPs {
		vips[i] = v.Prefix.String() + " on " + v.Device + " (" + strings.Join(v.Services, ", ") + ")"
	}
	a.list("vips", vips)
	sysctls := make([]string, len(role.Sysctls))
	for i, s := range role.Sysctls {
		sysctls[i] = s.Name + " = " + s.Value
	}
	a.list("sysctls", sysctls)
	if len(role.NAT) > 0 {
		a.line("nat services", strings.Join(role.NAT, ", ")+": nothing to set up here (replies return through the director)")
	}
}
