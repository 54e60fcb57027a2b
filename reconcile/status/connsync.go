package status

import (
	"fmt"
	"strings"
)

// syncDaemonsText is the status table's line of IPVS sync daemons:
// "master on eth1 syncid 51 (web)", the group when hakeeper runs it.
func syncDaemonsText(ds []SyncDaemon) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s on %s syncid %d", d.State, d.Interface, d.SyncID)
		if d.Group != "" {
			parts[i] += " (" + d.Group + ")"
		} else {
			parts[i] += " (not hakeeper's)"
		}
	}
	return strings.Join(parts, ", ")
}
