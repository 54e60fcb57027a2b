// Package check owns real-server health checking for LVS virtual
// services: one probe per check type (tcp, http, https, exec, udp, dns,
// each in its own file), the Checker that runs them concurrently on
// jittered schedules with retries and rise/fall hysteresis, and the pure
// function EffectiveRealServers that turns health into the real servers
// (and weights) IPVS should hold, applying drain, quorum and the sorry
// server.
//
// The package knows nothing about IPVS itself: the reconciler asks the
// Checker for health, passes it to EffectiveRealServers and programs the
// result, and re-runs that whenever Checker.Changes signals a flip.
package check
