package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// Metrics are the controller's Prometheus series. Counters the loop
// drives are kept here; VRRP series are read from the engine at scrape
// time (vrrpCollector) so they never lag or double count.
type Metrics struct {
	Registry *prometheus.Registry

	reconcileDuration prometheus.Histogram
	reconcileErrors   prometheus.Counter
	driftRepairs      *prometheus.CounterVec
	ipvsOps           *prometheus.CounterVec
	checkResults      *prometheus.CounterVec
	checkLatency      prometheus.Histogram
	fetchErrors       prometheus.Counter
	revisionInfo      *prometheus.GaugeVec
	syncDaemons       *prometheus.GaugeVec
}

// NewMetrics returns the series registered in a fresh registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	m := &Metrics{
		Registry: reg,
		reconcileDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hakeeper_reconcile_duration_seconds",
			Help:    "Time one reconcile pass took (fetch, load, observe, apply).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		reconcileErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "hakeeper_reconcile_errors_total",
			Help: "Revisions refused or failed to apply (the last good state kept running).",
		}),
		driftRepairs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hakeeper_drift_repairs_total",
			Help: "Changes made behind hakeeper's back that it put back, by kind (vip, ipvs, fwmark, sync-daemon).",
		}, []string{"kind"}),
		ipvsOps: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hakeeper_ipvs_operations_total",
			Help: "IPVS writes made, by operation.",
		}, []string{"op"}),
		checkResults: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hakeeper_check_results_total",
			Help: "Real-server health check results, by result (pass, fail).",
		}, []string{"result"}),
		checkLatency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "hakeeper_check_latency_seconds",
			Help:    "Time one real-server health check probe took.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
		fetchErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "hakeeper_source_fetch_errors_total",
			Help: "Failures to fetch or read the cluster description from its source.",
		}),
		revisionInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hakeeper_revision_info",
			Help: "The applied revision of the cluster description (value 1).",
		}, []string{"revision"}),
		syncDaemons: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hakeeper_ipvs_sync_daemon",
			Help: "Whether hakeeper runs the IPVS connection-sync daemon in a state (master, backup): 1 or 0.",
		}, []string{"state"}),
	}
	// Series that exist from the start, so rate() works from the first scrape.
	for _, k := range []string{"vip", "ipvs", "realserver", "fwmark"} {
		m.driftRepairs.WithLabelValues(k)
	}
	for _, r := range []string{"pass", "fail"} {
		m.checkResults.WithLabelValues(r)
	}
	return m
}

// ObserveCheck counts one check result.
func (m *Metrics) ObserveCheck(ok bool, latency time.Duration) {
	res := "fail"
	if ok {
		res = "pass"
	}
	m.checkResults.WithLabelValues(res).Inc()
	m.checkLatency.Observe(latency.Seconds())
}

// setRevision makes id the only revision_info series.
func (m *Metrics) setRevision(id string) {
	m.revisionInfo.Reset()
	m.revisionInfo.WithLabelValues(id).Set(1)
}

// realServerCollector reads every real server's health and the weight
// in force from the controller at scrape time: the same data as /status,
// so the two never disagree and nothing is counted twice.
type realServerCollector struct {
	ctl *Controller
}

var (
	descRealServerUp = prometheus.NewDesc("hakeeper_real_server_up",
		"Whether a real server is healthy (1) or down (0); an unchecked server counts as up.", []string{"service", "server"}, nil)
	descRealServerWeight = prometheus.NewDesc("hakeeper_real_server_weight",
		"Weight of a real server in IPVS now; 0 when it is left out (down, or replaced by the sorry server).", []string{"service", "server"}, nil)
)

func (c realServerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRealServerUp
	ch <- descRealServerWeight
}

func (c realServerCollector) Collect(ch chan<- prometheus.Metric) {
	c.ctl.mu.Lock()
	running, effective := c.ctl.report.running, c.ctl.report.effective
	c.ctl.mu.Unlock()
	for _, svc := range c.ctl.services(running, effective) {
		for _, rs := range svc.RealServers {
			if rs.Sorry {
				continue
			}
			weight := 0.0
			if rs.InIPVS {
				weight = float64(rs.Weight)
			}
			ch <- prometheus.MustNewConstMetric(descRealServerUp, prometheus.GaugeValue, boolValue(rs.Health != "down"), svc.Name, rs.Address)
			ch <- prometheus.MustNewConstMetric(descRealServerWeight, prometheus.GaugeValue, weight, svc.Name, rs.Address)
		}
	}
}

// vrrpStateValue encodes a VRRP state as a gauge value.
var vrrpStateValue = map[model.VRRPState]float64{
	model.StateInit: 0, model.StateBackup: 1, model.StateMaster: 2, model.StateFault: 3,
}

// vrrpCollector reads the engine's instance snapshots at scrape time.
type vrrpCollector struct {
	engine Engine
}

var (
	descVRRPState = prometheus.NewDesc("hakeeper_vrrp_state",
		"VRRP state of a VIP group on this node: 0 init, 1 backup, 2 master, 3 fault.", []string{"group"}, nil)
	descVRRPPriority = prometheus.NewDesc("hakeeper_vrrp_priority",
		"Effective VRRP priority advertised (base plus tracking weights).", []string{"group"}, nil)
	descVRRPTransitions = prometheus.NewDesc("hakeeper_vrrp_transitions_total",
		"VRRP state transitions of a VIP group.", []string{"group"}, nil)
	descVRRPSent = prometheus.NewDesc("hakeeper_vrrp_adverts_sent_total",
		"VRRP advertisements sent.", []string{"group"}, nil)
	descVRRPReceived = prometheus.NewDesc("hakeeper_vrrp_adverts_received_total",
		"VRRP advertisements received and accepted.", []string{"group"}, nil)
	descVRRPVIPMismatches = prometheus.NewDesc("hakeeper_vrrp_vip_mismatches_total",
		"Accepted VRRP advertisements whose VIP list differs from this node's (peers on another revision).", []string{"group"}, nil)
	descVRRPDrops = prometheus.NewDesc("hakeeper_vrrp_drops_total",
		"VRRP packets dropped, by reason; group is empty for packets no instance could claim.", []string{"group", "reason"}, nil)
	descVRRPSplitBrain = prometheus.NewDesc("hakeeper_vrrp_split_brain_suspected",
		"1 while adverts for the group's VRID from a router configured otherwise (reasons bad-auth, wrong-version, interval-mismatch, not-peer in hakeeper_vrrp_drops_total) are being rejected: both may be master.",
		[]string{"group"}, nil)
	descVRRPAdvertErrors = prometheus.NewDesc("hakeeper_vrrp_advert_errors_total",
		"Times the group's advert could not be encoded; the group is faulted while it cannot (hakeeper_vrrp_state 3).", []string{"group"}, nil)
	descVRRPTrackUp = prometheus.NewDesc("hakeeper_vrrp_track_up",
		"Whether a VIP group's tracked interface is up or tracked check passes (1) or not (0); kind is interface or check.",
		[]string{"group", "kind", "name"}, nil)
	descVRRPTrackWeight = prometheus.NewDesc("hakeeper_vrrp_track_weight_applied",
		"What a tracked interface or check adds to the group's priority now: its weight, or 0 when not applied.",
		[]string{"group", "kind", "name"}, nil)
	descVRRPTrackCheckRuns = prometheus.NewDesc("hakeeper_vrrp_track_check_runs_total",
		"Runs of a tracked check, by result: pass, fail (exit status not 0), error (did not start or timed out).",
		[]string{"check", "result"}, nil)
)

func (c vrrpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVRRPState, descVRRPPriority, descVRRPTransitions, descVRRPSent, descVRRPReceived, descVRRPDrops,
		descVRRPVIPMismatches, descVRRPSplitBrain, descVRRPAdvertErrors, descVRRPTrackUp, descVRRPTrackWeight, descVRRPTrackCheckRuns} {
		ch <- d
	}
}

func (c vrrpCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.engine.Status() {
		ch <- prometheus.MustNewConstMetric(descVRRPState, prometheus.GaugeValue, vrrpStateValue[st.State], st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPPriority, prometheus.GaugeValue, float64(st.Priority), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPTransitions, prometheus.CounterValue, float64(st.Counters.Transitions), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPSent, prometheus.CounterValue, float64(st.Counters.AdvertsSent), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPReceived, prometheus.CounterValue, float64(st.Counters.AdvertsReceived), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPVIPMismatches, prometheus.CounterValue, float64(st.Counters.VIPMismatches), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPSplitBrain, prometheus.GaugeValue, boolValue(st.SplitBrain != ""), st.Name)
		ch <- prometheus.MustNewConstMetric(descVRRPAdvertErrors, prometheus.CounterValue, float64(st.Counters.AdvertErrors), st.Name)
		for reason, n := range st.Counters.Drops {
			ch <- prometheus.MustNewConstMetric(descVRRPDrops, prometheus.CounterValue, float64(n), st.Name, string(reason))
		}
		for _, t := range st.Tracks {
			ch <- prometheus.MustNewConstMetric(descVRRPTrackUp, prometheus.GaugeValue, boolValue(t.Up), st.Name, string(t.Kind), t.Name)
			ch <- prometheus.MustNewConstMetric(descVRRPTrackWeight, prometheus.GaugeValue, float64(t.Contribution), st.Name, string(t.Kind), t.Name)
		}
	}
	for _, chk := range c.engine.CheckStatus() {
		for result, n := range map[string]uint64{"pass": chk.Runs.Passed, "fail": chk.Runs.Failed, "error": chk.Runs.Errors} {
			ch <- prometheus.MustNewConstMetric(descVRRPTrackCheckRuns, prometheus.CounterValue, float64(n), chk.Name, result)
		}
	}
	total := map[vrrpd.DropReason]uint64{}
	for _, byReason := range c.engine.Drops() {
		for r, n := range byReason {
			total[r] += n
		}
	}
	for r, n := range total {
		ch <- prometheus.MustNewConstMetric(descVRRPDrops, prometheus.CounterValue, float64(n), "", string(r))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
