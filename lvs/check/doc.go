// Package check owns real-server health checking for LVS virtual
// services: one probe per check type (each in its own file), the Checker
// that runs them on jittered schedules with retries and rise/fall
// hysteresis, and EffectiveRealServers, the pure function that turns
// health into the real servers (and weights) IPVS should hold. Field
// meanings come from model.Check and model.CheckSpec.
//
// The package knows nothing about IPVS itself: the reconciler asks the
// Checker for health, passes it to EffectiveRealServers and programs the
// result, and re-runs that whenever Checker.Changes signals a flip.
//
// # Check types
//
//   - tcp: passes when a connection is established within the timeout;
//     fails on refusal or timeout. Nothing is sent and the connection is
//     reset (linger 0), so the director keeps no TIME_WAIT sockets.
//   - http, https: GET path (Host header = host) passes when the status is
//     one of status (default 200) and the first 1 MiB of the body
//     contains body or matches bodyRegex. Redirects are not followed,
//     every check opens a fresh connection, no proxy is taken from the
//     environment, and a server that accepts but never answers times out.
//     HTTPS sends SNI = sni, else host without its port, and verifies
//     against the system roots unless insecureSkipVerify.
//   - exec: passes when the command exits 0; the address and check port
//     are appended ($1 $2 for the shell form). A failure reports the exit
//     status and the last 256 bytes of output; on timeout the whole
//     process group is killed. Commands run through package proc (shared
//     with VRRP hooks) in /, with only PATH (a fixed system path) and
//     LANG=C, plus HOME, USER and LOGNAME when run as user.
//   - udp: sends payload from a connected socket. With expect, a reply
//     containing it passes; replies without it are skipped until the
//     timeout, and the last one is reported. With requireReply any reply
//     passes. Otherwise a reply, or silence until the timeout, passes.
//     ICMP port unreachable always fails. A plain check of a silent
//     server therefore takes the whole timeout.
//   - dns: passes on a response to a recursion-desired query for name and
//     type with the same ID and question and RCODE NOERROR; responses
//     with another ID are ignored, ICMP port unreachable fails.
//
// Bad settings (a regexp, an unknown user or DNS type, no command) are
// reported by NewProbe; the Checker logs them once and counts every run
// of that server as failed with that error.
//
// # Checker
//
//   - Schedule: a server's first check runs on a random 10ms slot within
//     its interval, then every interval on the same phase; slots missed
//     while waiting for a worker are skipped, not run back to back.
//   - At most Options.Workers checks (DefaultWorkers when unset) run at
//     once. Check times are rounded up to 10ms slots and the default
//     clock (clock.go) wakes once per slot, not once per server.
//   - tcp checks with the built-in probe run in batches (batch.go): the
//     checks due in a slot start every connect from one goroutine on raw
//     non-blocking sockets, wait for all of them with one ppoll, record
//     results under one lock and reuse their sockets (a disconnect is the
//     reset that closing a linger-0 socket sends). Retries, timeouts,
//     rise/fall and removal behave as on the generic path; a removed
//     server's connect in flight is dropped within 100ms. Every other
//     check, and every tcp check when Options.NewProbe is set, runs in a
//     goroutine of its own through its Probe. Options.ObserveTry sees the
//     tries of both paths, so the daemon counts tries with it and keeps
//     the batches. This second path exists only while the benchmark
//     beside keepalived (below) shows net.Dialer costing more than twice
//     keepalived's CPU per check.
//   - Retries: a failing try is retried at once, up to retries more tries
//     but not past the next scheduled check; the attempt counts once.
//   - Rise and fall: consecutive passes bring a down server up,
//     consecutive failures take an up server down. startDown (keepalived's
//     alpha) makes new servers start down.
//
// # Tests and benchmarks
//
// Tests use real sockets on loopback and step a fake clock
// (checktest.Clock); the exec-as-user test needs root and the nobody user.
// CPU figures come from benchmarks, printed by `make bench`:
// BenchmarkChecker1000TCP (1,000 servers checked every second, batched
// and through net.Dialer) and BenchmarkTCPProbe here, and, in the IPVS
// VM, both beside keepalived's TCP_CHECK on the same servers
// (BenchmarkCheckerVsKeepalived).
package check
