package status

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
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
			rev = " revision " + source.ShortID(e.Revision)
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
	if len(r.SyncDaemons) > 0 {
		p("Sync daemons:\t%s\n", syncDaemonsText(r.SyncDaemons))
	}
	if len(r.ConflictingIPVS) > 0 {
		p("Conflicting IPVS:\t%s (wanted, but made by someone else; left alone)\n", strings.Join(r.ConflictingIPVS, ", "))
	}
	writeRollout(p, r.Rollout, now)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(r.VIPGroups) == 0 {
		fmt.Fprintln(w, "VIP groups: none")
	} else {
		// Rendered apart, then interleaved: track lines under their
		// group would otherwise break the table's column alignment.
		lines := aligned(func(tw io.Writer) {
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
		})
		tracks := trackLines(r.VIPGroups, now)
		io.WriteString(w, lines[0])
		for i, g := range r.VIPGroups {
			io.WriteString(w, lines[i+1])
			if g.AdvertError != "" {
				fmt.Fprintf(w, "  FAULT: %s\n", g.AdvertError)
			}
			if g.SplitBrain != "" {
				fmt.Fprintf(w, "  SPLIT BRAIN: %s\n", g.SplitBrain)
			}
			for range g.Tracks {
				io.WriteString(w, tracks[0])
				tracks = tracks[1:]
			}
		}
	}
	if len(r.TrackChecks) > 0 {
		fmt.Fprintln(w)
		if err := writeTrackChecks(w, r.TrackChecks, now); err != nil {
			return err
		}
	}
	if r.BGP != nil {
		fmt.Fprintln(w)
		if err := writeBGP(w, r.BGP, now); err != nil {
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

// trackLines renders every group's tracks, in order, one aligned line each:
//
//	track check nginx-alive  failing  weight -20 (applied)  since 12:01:03 (5s ago)  last: exit 1
func trackLines(groups []VIPGroup, now time.Time) []string {
	return aligned(func(tw io.Writer) {
		for _, g := range groups {
			for _, t := range g.Tracks {
				fmt.Fprintf(tw, "  track %s %s\t%s\t%s\tsince %s", t.Kind, t.Name, trackState(t), trackWeight(t), clockAgo(t.Since, now))
				if t.LastResult != "" {
					fmt.Fprintf(tw, "\tlast: %s", t.LastResult)
				}
				fmt.Fprintln(tw)
			}
		}
	})
}

// aligned returns the lines write prints through a tabwriter, each with
// its newline. Writing to memory cannot fail.
func aligned(write func(tw io.Writer)) []string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	write(tw)
	tw.Flush()
	lines := strings.SplitAfter(b.String(), "\n")
	return lines[:len(lines)-1] // after the last newline
}

func trackState(t Track) string {
	switch {
	case t.Kind == "check" && t.Up:
		return "passing"
	case t.Kind == "check":
		return "failing"
	case t.Up:
		return "up"
	}
	return "down"
}

// trackWeight says what the track does to the group's priority now.
func trackWeight(t Track) string {
	switch {
	case t.Fault:
		return "weight 0 (FAULT)"
	case t.Weight == 0 && t.Kind == "check":
		return "weight 0 (faults when failing)"
	case t.Weight == 0:
		return "weight 0 (faults when down)"
	case t.Contribution != 0:
		return fmt.Sprintf("weight %+d (applied)", t.Weight)
	}
	return fmt.Sprintf("weight %+d (not applied)", t.Weight)
}

// writeTrackChecks prints the engine's tracked checks, each once.
func writeTrackChecks(w io.Writer, checks []TrackCheck, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRACKED CHECK\tVERDICT\tSINCE\tIN A ROW\tRUNS PASS/FAIL/ERROR\tLAST RESULT\tLAST RUN\tGROUPS")
	for _, c := range checks {
		verdict, streak := "passing", fmt.Sprintf("%d ok", c.ConsecutiveOK)
		if !c.Passing {
			verdict = "failing"
		}
		if c.ConsecutiveFail > 0 {
			streak = fmt.Sprintf("%d failed", c.ConsecutiveFail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s (rise %d, fall %d)\t%d/%d/%d\t%s\t%s\t%s\n", c.Name, verdict, ago(c.Since, now), streak,
			c.Rise, c.Fall, c.RunsPassed, c.RunsFailed, c.RunsErrors, dash(c.LastResult), ago(c.LastRun, now), strings.Join(c.Groups, ", "))
	}
	return tw.Flush()
}

// clockAgo renders t as a time of day in now's zone (with the date when
// over a day old) and how long ago: "12:01:03 (5s ago)".
func clockAgo(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	layout := "15:04:05"
	if now.Sub(t) >= 24*time.Hour {
		layout = "2006-01-02 15:04:05"
	}
	return t.In(now.Location()).Format(layout) + " (" + ago(t, now) + ")"
}

func revText(r *Revision, now time.Time) string {
	if r == nil {
		return "none"
	}
	s := source.ShortID(r.ID)
	if r.Summary != "" {
		s += fmt.Sprintf(" %q", r.Summary)
	}
	if !r.At.IsZero() {
		s += ", " + ago(r.At, now)
	}
	return s
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
