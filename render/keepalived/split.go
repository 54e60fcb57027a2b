package keepalived

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// splitGroups splits every VIP group with more VIPs than one advert
// carries (model.MaxVIPs). keepalived moves such an instance's
// excess VIPs, like its virtual_ipaddress_excluded ones, without listing
// them in its adverts; hakeeper lists every VIP, so the VIPs are cut in
// order into the group and further groups NAME-2, NAME-3, ... that copy
// its nodes, priorities and settings, each on a VRID no imported instance
// of that family uses, and all tied in one sync group so they fail over
// together: the instance's own sync group if it has one, else a new one
// named after it. The notify hooks stay on the first group, so they run
// once per change as keepalived ran them.
func (im *importer) splitGroups(c *model.Cluster, groups []*groupAcc) error {
	used := map[model.Family]map[int]bool{model.IPv4: {}, model.IPv6: {}}
	for _, g := range groups {
		used[g.family][g.vrid] = true
	}
	syncOf := map[string]string{}
	for name, s := range c.SyncGroups {
		for _, g := range s.Groups {
			syncOf[g] = name
		}
	}
	var errs []error
	for _, g := range groups {
		vg := c.VIPGroups[g.name]
		limit := model.MaxVIPs(g.family)
		if len(vg.VIPs) <= limit {
			continue
		}
		f := g.members[0]
		n := (len(vg.VIPs) + limit - 1) / limit
		vrids := freeVRIDs(used[g.family], g.vrid, n-1)
		if len(vrids) < n-1 {
			errs = append(errs, fmt.Errorf("%s: %s: %d VIPs (virtual_ipaddress and virtual_ipaddress_excluded together) need %d VRRP groups of at most %d %s addresses each, since hakeeper lists every VIP in its adverts, but only %d VRID(s) are left that no imported %s instance uses: free VRIDs or move VIPs to another instance",
				f.pos, f.where, len(vg.VIPs), n, limit, g.family, len(vrids), g.family))
			continue
		}
		vips := vg.VIPs
		vg.VIPs = vips[:limit]
		names := []string{g.name}
		parts := []string{fmt.Sprintf("%s (VRID %d, %d VIPs)", g.name, g.vrid, limit)}
		var vs []string
		for i, vrid := range vrids {
			used[g.family][vrid] = true
			vs = append(vs, strconv.Itoa(vrid))
			name := freeName(g.name, c.VIPGroups)
			part := *vg
			part.VRID = vrid
			part.VIPs = vips[(i+1)*limit : min((i+2)*limit, len(vips))]
			part.Notify = nil
			c.VIPGroups[name] = &part
			for _, node := range c.Nodes {
				if o := node.Overrides[g.name]; o != nil {
					node.Overrides[name] = o
				}
			}
			names = append(names, name)
			parts = append(parts, fmt.Sprintf("%s (VRID %d, %d VIPs)", name, vrid, len(part.VIPs)))
		}
		how := ""
		if sg, ok := syncOf[g.name]; ok {
			s := c.SyncGroups[sg]
			s.Groups = slices.Insert(s.Groups, slices.Index(s.Groups, g.name)+1, names[1:]...)
			how = "added to its sync group " + sg
		} else {
			sg := freeName(g.name, c.SyncGroups)
			if c.SyncGroups == nil {
				c.SyncGroups = map[string]*model.SyncGroup{}
			}
			c.SyncGroups[sg] = &model.SyncGroup{Groups: names}
			how = "joined in the new sync group " + sg
		}
		if vg.Notify != nil {
			how += " (the notify hooks stay on " + g.name + ")"
		}
		im.warn(f.pos, "vipGroups.%s: %d VIPs (virtual_ipaddress and virtual_ipaddress_excluded together) are more than one hakeeper advert carries (at most %d %s addresses): split in order into %s, %s so they fail over together; no imported instance uses VRID %s, but make sure no other VRRP router on %s does, and migrate every node of this instance at once (keepalived sends no adverts for VRID %s)",
			g.name, len(vips), limit, g.family, strings.Join(parts, ", "), how, strings.Join(vs, ", "), f.iface, strings.Join(vs, ", "))
	}
	return errors.Join(errs...)
}

// freeVRIDs returns up to n VRIDs missing from used, counting upwards
// from after and wrapping from 255 to 1, so a split instance's groups get
// VRIDs near its own.
func freeVRIDs(used map[int]bool, after, n int) []int {
	var out []int
	for i := 1; i < 255 && len(out) < n; i++ {
		v := (after-1+i)%255 + 1
		if !used[v] {
			out = append(out, v)
		}
	}
	return out
}
