package render

import (
	"bufio"
	"fmt"

	"github.com/hakeeper/hakeeper/model"
)

// showConnectionSync writes the node's IPVS connection-sync daemon and
// the group whose VRRP state it follows.
func showConnectionSync(w *bufio.Writer, cs *model.ConnectionSyncSpec) {
	if cs == nil {
		return
	}
	fmt.Fprintf(w, "\nConnection sync (IPVS sync daemon)\n")
	fmt.Fprintf(w, "  master while %s is master here, backup otherwise\n", cs.Group)
	fmt.Fprintf(w, "  %s\n", cs)
}
