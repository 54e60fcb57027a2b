package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints r for people: a header, the VIP groups, the services
// with their real servers, and drift. now makes ages relative.
func WriteText(w io.Writer, r *Report, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("Node:\t%s\n", r.Node)
	if r.Cluster != "" {
		p("Cluster:\t%s\n", r.Cluster)
	}
	p("Source:\t%s\n", r.Source)
	p("Applied:\t%s\n", revText(r.Applied, now))
	if r.Fetched != nil && (r.Applied == nil || r.Fetched.ID != r.Applied.ID) {
		why := "not applied"
		if r.Fetched.Refused {
			why = "refused, not applied"
		}
		p("Fetched:\t%s (%s)\n", revText(r.Fetched, now), why)
	}
	if lr := r.LastReconcile; lr != nil {
		p("Last reconcile:\t%s, %s (%s, took %s, %d IPVS writes)\n", lr.Result, ago(lr.Time, now), lr.Trigger,
			lr.Duration.Round(time.Microsecond), lr.IPVSOperations)
	}
	health := "healthy"
	if !r.Healthy {
		health = "DEGRADED"
		if r.Degraded != "" {
			health += ": " + r.Degraded
		}
	}
	p("Health:\t%s\n", health)
	if e := r.LastError; e != nil {
		rev := ""
		if e.Revision != "" {
			rev = " revision " + shortID(e.Revision)
		}
		p("Last error:\t%s, %s%s: %s\n", ago(e.Time, now), e.Stage, rev, strings.ReplaceAll(e.Message, "\n", "\n\t"))
	}
	p("Drift repairs:\t%d VIP, %d IPVS", r.Drift.VIPRepairs, r.Drift.IPVSRepairs)
	if !r.Drift.Last.IsZero() {
		p(" (last: %s, %s)", r.Drift.LastWhat, ago(r.Drift.Last, now))
	}
	p("\n")
	if len(r.UnmanagedIPVS) > 0 {
		p("Unmanaged IPVS:\t%s (not hakeeper's, left alone)\n", strings.Join(r.UnmanagedIPVS, ", "))
	}
	if len(r.ConflictingIPVS) > 0 {
		p("Conflicting IPVS:\t%s (wanted, but made by someone else; left alone)\n", strings.Join(r.ConflictingIPVS, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(r.VIPGroups) == 0 {
		fmt.Fprintln(w, "VIP groups: none")
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIP GROUP\tVRID\tINTERFACE\tSTATE\tPRIORITY\tMASTER\tSINCE\tTRANSITIONS\tVIPS")
		for _, g := range r.VIPGroups {
			var vips []string
			for _, v := range g.VIPs {
				s := v.Address
				if v.Device != g.Interface {
					s += " on " + v.Device
				}
				if v.Present {
					s += " (here)"
				}
				vips = append(vips, s)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d/%d\t%s\t%s\t%d\t%s\n", g.Name, g.VRID, g.Interface, strings.ToUpper(g.State),
				g.Priority, g.BasePriority, dash(g.Master), ago(g.Since, now), g.Transitions, strings.Join(vips, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if len(r.Services) == 0 {
		fmt.Fprintln(w, "Services: none")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tREAL SERVER\tHEALTH\tWEIGHT\tLAST RESULT\tLATENCY\tCHANGED")
	for _, s := range r.Services {
		for i, rs := range s.RealServers {
			name := ""
			if i == 0 {
				name = s.Name + " " + s.Key
			}
			weight := "-"
			if rs.InIPVS {
				weight = fmt.Sprint(rs.Weight)
			}
			addr := rs.Address
			if rs.Sorry {
				addr += " (sorry)"
			}
			lat := "-"
			if rs.Latency > 0 {
				lat = rs.Latency.Round(10 * time.Microsecond).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, addr, rs.Health, weight, dash(rs.LastResult), lat, ago(rs.LastChange, now))
		}
	}
	return tw.Flush()
}

func revText(r *Revision, now time.Time) string {
	if r == nil {
		return "none"
	}
	s := shortID(r.ID)
	if r.Summary != "" {
		s += " " + fmt.Sprintf("%q", r.Summary)
	}
	if !r.At.IsZero() {
		s += ", " + ago(r.At, now)
	}
	return s
}

func shortID(id string) string {
	if strings.HasPrefix(id, "sha256:") && len(id) > 19 {
		return id[:19]
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago renders t relative to now ("12s ago").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return t.UTC().Format(time.RFC3339)
}
