package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/controller/ipvsproc"
	"github.com/hakeeper/hakeeper/reconcile/peer"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/bgp"
	"github.com/hakeeper/hakeeper/vrrpd/kernel"
)

// runShutdownTimeout bounds a graceful stop: priority-0 adverts, VIP
// removal and stop hooks (whose own timeout defaults to 10s).
const runShutdownTimeout = 15 * time.Second

// defaultStateDir is where a Git source keeps its clone and the last
// good revision unless --state-dir says otherwise (systemd's StateDirectory).
const defaultStateDir = "/var/lib/hakeeper"

// defaultRuntimeDir holds, per node, the state of a local-source node: the
// VIPs and IPVS services it created. It is on tmpfs, cleared by a reboot
// exactly like the addresses and the IPVS table it describes, and it lets
// a crashed daemon clean up after itself on restart.
const defaultRuntimeDir = "/run/hakeeper"

// maxFlagFile bounds a secret or a keyring named by a flag.
const maxFlagFile = 1 << 20

type runOptions struct {
	node     string
	source   string
	logLevel string
	stateDir string
	// git holds the flags of a Git source; runSource completes it.
	git         source.GitOptions
	keyringFile string

	fetchTimeout      time.Duration
	interval          time.Duration
	listen            string
	webhookSecretFile string
	removeServices    bool
	adoptIPVS         bool
	ipvsFingerprint   bool
	peer              peerOptions
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [--node NAME] --source URL|PATH",
		Short: "Run this node's controller: VRRP, health checks and IPVS from the cluster description (foreground daemon)",
		Long: `run follows the cluster description (a Git repository, or a YAML file or
directory watched on this host), resolves this node's desired state and
keeps the kernel in line with it: VRRP instances and their VIPs, health
checks of the real servers, and the IPVS virtual services.

A new revision is applied only if it loads, validates and applies
completely; otherwise the last good revision keeps running, and the error
(file:line, revision) is logged, shown by 'hakeeper status' and counted in
the metrics. What is valid but probably not meant (see validate) is
logged at WARN, once per revision. The last good revision is kept in --state-dir so the node
restarts with it when the source is unreachable. Every --interval the
node is checked for drift (a VIP or IPVS entry changed by hand) and
repaired.

Signals: SIGHUP fetches and applies now; SIGTERM or SIGINT stop
gracefully (masters advertise priority 0 and release their VIPs; IPVS
services stay unless --remove-services-on-stop) and exit 0.

Without virtual services for this node IPVS is never touched, so run
works on hosts without IPVS.`,
		Example: `  hakeeper run --node lb1 --source /etc/hakeeper/cluster.yaml
  hakeeper run --node lb1 --source https://git.example.com/ops/ha.git --branch main --path clusters/dc1 \
      --token-file /etc/hakeeper/git-token --webhook-secret-file /etc/hakeeper/webhook-secret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "this node's name in the description (default: the node whose address is local, else the hostname; see docs/operations.md)")
	f.StringVar(&o.source, "source", "", "cluster description: a Git URL (https://, ssh://, git://, file://, user@host:path) or a local YAML file or directory (required)")
	f.StringVar(&o.git.Branch, "branch", "", "Git branch to follow (default main)")
	f.StringVar(&o.git.Tag, "tag", "", "Git tag to pin instead of a branch")
	f.StringVar(&o.git.Path, "path", "", "directory (or file) inside the Git repository holding the description")
	f.DurationVar(&o.git.Interval, "poll-interval", source.DefaultInterval, "how often a Git source is fetched when no webhook fires")
	f.DurationVar(&o.fetchTimeout, "fetch-timeout", controller.DefaultFetchTimeout, "how long one fetch and read of the source may take before it is abandoned and the running configuration kept")
	f.DurationVar(&o.interval, "interval", controller.DefaultInterval, "how often the node is checked for drift and repaired")
	f.StringVar(&o.stateDir, "state-dir", "", "directory for the Git clone, the last good revision, IPVS ownership and status.json (default "+defaultStateDir+" for a Git source, "+defaultRuntimeDir+"/NODE for a local one)")
	f.StringVar(&o.listen, "listen", status.DefaultAddr, "status and metrics address: host:port or unix:/path; \"off\" disables")
	f.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "enable POST /hooks/git, authenticated with the shared secret in this file")
	f.BoolVar(&o.git.AllowForcePush, "allow-force-push", false, "apply a Git commit that does not descend from the applied one (refused by default)")
	f.StringVar(&o.keyringFile, "keyring", "", "armored OpenPGP public keyring: apply only commits signed by one of its keys")
	f.StringVar(&o.git.TokenFile, "token-file", "", "file holding an HTTPS access token for the Git source")
	f.StringVar(&o.git.Username, "username", "", "HTTPS user name for the Git source")
	f.StringVar(&o.git.PasswordFile, "password-file", "", "file holding the HTTPS password for the Git source")
	f.StringVar(&o.git.CAFile, "ca-file", "", "PEM file of CA certificates trusted for the Git source's HTTPS besides the system's (a private CA)")
	f.StringVar(&o.git.SSHKeyFile, "ssh-key-file", "", "SSH private key for the Git source")
	f.StringVar(&o.git.KnownHostsFile, "known-hosts-file", "", "known_hosts for the Git source's SSH host key (required with --ssh-key-file)")
	f.BoolVar(&o.removeServices, "remove-services-on-stop", false, "delete the IPVS services hakeeper owns when stopping (default: leave them serving)")
	f.BoolVar(&o.adoptIPVS, "adopt-ipvs", false, "take over existing IPVS services whose key matches a desired one (migration from keepalived)")
	f.BoolVar(&o.ipvsFingerprint, "ipvs-fingerprint", false, "for tables of thousands of services: skip the drift pass's full IPVS read while /proc/net/ip_vs is unchanged (thresholds and scheduler flags changed by hand are then repaired within 6 intervals)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	addRealtimeFlag(cmd)
	addPeerFlags(cmd, &o.peer)
	return cmd
}

// isGitURL tells a repository URL from a local path.
func isGitURL(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	// scp-like user@host:path
	at, colon, slash := strings.Index(s, "@"), strings.Index(s, ":"), strings.Index(s, "/")
	return at > 0 && colon > at && (slash < 0 || colon < slash)
}

// stateDirFor is --state-dir, else the default for the source and node.
func (o runOptions) stateDirFor(node string) string {
	if o.stateDir != "" {
		return o.stateDir
	}
	return defaultStateDirFor(o.source, node)
}

// runSource builds the source named by --source.
func runSource(o runOptions) (source.Source, error) {
	g := o.git
	if !isGitURL(o.source) {
		if g.Branch != "" || g.Tag != "" || g.Path != "" {
			return nil, errors.New("--branch, --tag and --path apply to a Git source; --source is a local path")
		}
		return source.NewDir(o.source), nil
	}
	if o.keyringFile != "" {
		b, err := reconcile.ReadRegularFile(o.keyringFile, maxFlagFile)
		if err != nil {
			return nil, fmt.Errorf("--keyring: %w", err)
		}
		g.Keyring = string(b)
	}
	// A Git source's state directory does not depend on the node.
	g.URL, g.StateDir = o.source, filepath.Join(o.stateDirFor(""), "git")
	return source.NewGit(g)
}

func runDaemon(ctx context.Context, o runOptions, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.source == "" {
		return errors.New("--source is required")
	}
	src, err := runSource(o)
	if err != nil {
		return err
	}
	// Without --node, the node is chosen from the description by the rule
	// every command follows (selectNode). A local description is only
	// read, so it is read first: the state directory is per node. A Git
	// source's state directory is not, and is locked before its clone is
	// touched.
	if o.node == "" && !isGitURL(o.source) {
		if o.node, err = runNode(ctx, src, ""); err != nil {
			return err
		}
	}
	stateDir := o.stateDirFor(o.node)
	var webhookSecret []byte
	if o.webhookSecretFile != "" {
		b, err := reconcile.ReadRegularFile(o.webhookSecretFile, maxFlagFile)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		if webhookSecret = bytes.TrimSpace(b); len(webhookSecret) == 0 {
			return fmt.Errorf("--webhook-secret-file %s is empty", o.webhookSecretFile)
		}
	}
	// One daemon per state directory, and no 'hakeeper apply' beside it
	// however it listens: both take this lock.
	lock, err := lockStateDir(stateDir)
	if err != nil {
		return fmt.Errorf("not starting: %w", err)
	}
	defer lock.Close()
	statusFile := &runStatusWriter{path: filepath.Join(stateDir, "status.json")}
	if o.node == "" {
		if o.node, err = runNode(ctx, src, stateDir); err != nil {
			return err
		}
	}
	// Subscribe before starting so a signal during start-up is not lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	addrs, err := kernel.NewAddresses()
	if err != nil {
		return err
	}
	defer addrs.Close()
	links, err := kernel.NewLinks()
	if err != nil {
		return err
	}
	defer links.Close()
	announcer := kernel.NewAnnouncer()
	defer announcer.Close()

	vcfg := vrrpd.Config{
		Clock:     kernel.Clock{},
		Conns:     kernel.ConnFactory{},
		Addrs:     addrs,
		Announcer: announcer,
		Links:     links,
		Runner:    kernel.Runner{},
		Logger:    log,
		// After a crash while master, the next start removes the VIPs it left.
		VIPs: kernel.NewVIPFile(stateDir),
	}
	onTransition, transitions := transitionSignal()
	vcfg.OnTransition = onTransition
	engine, err := vrrpd.New(vcfg)
	if err != nil {
		return err
	}
	metrics := controller.NewMetrics()
	checker := check.New(check.Options{
		// Counting tries here rather than wrapping probes keeps TCP
		// checks on the checker's batched path.
		ObserveTry: func(r check.Result) { metrics.ObserveCheck(r.OK(), r.Latency) },
		// Under --realtime, check scripts still start at normal priority.
		StartCommand: kernel.StartNormal,
		Logger:       log,
	})
	cfg := controller.Config{
		Node: o.node, Source: src, Engine: engine, Checker: checker, Addrs: addrs,
		Interval: o.interval, FetchTimeout: o.fetchTimeout, RemoveServicesOnShutdown: o.removeServices,
		Logger: log, Metrics: metrics, LastGood: controller.NewLastGood(stateDir),
		StateDir: stateDir, Transitions: transitions,
		RealServer: &realserver.Programmer{Kernel: realserver.Netlink{}, StatePath: filepath.Join(stateDir, realServerRecord)},
		// Idle (no socket) until a revision makes the node a member of a bgp group.
		BGP: bgp.NewServer(log),
	}
	// IPVS is optional: a host without it still runs VRRP, and a revision
	// with services for this node is then refused with a clear error.
	if k, closeIPVS, err := openIPVS(); err != nil {
		log.Info("IPVS not available; virtual services cannot be programmed on this node", "err", err)
	} else {
		defer closeIPVS()
		if sd, closeSync, err := openSyncDaemons(); err == nil {
			defer closeSync()
			cfg.SyncDaemons = sd
		}
		cfg.IPVS = &lvs.Programmer{IPVS: k, StatePath: filepath.Join(stateDir, ipvsRecord), Adopt: o.adoptIPVS}
		if o.ipvsFingerprint {
			cfg.Fingerprint = ipvsproc.Table{}
		}
	}
	var ctl *controller.Controller
	poller, peerCreds := (*peer.Poller)(nil), (*peer.Credentials)(nil)
	if cfg.Rollout, poller, peerCreds, err = o.peer.rollout(o.node, log, func() { ctl.Trigger("peer") }); err != nil {
		return err
	}
	if cfg.Marks, err = openMarks(); err != nil {
		cfg.Marks = nil
		log.Info("nftables not available; fwmark services' match rules cannot be programmed on this node", "err", err)
	}
	ctl, err = controller.New(cfg)
	if err != nil {
		return err
	}
	if _, err := ctl.Start(ctx); err != nil {
		// Instances that did start must not keep VIPs behind us.
		runShutdown(ctl, log)
		return err
	}
	st := ctl.Status()
	log.Info("running", "node", o.node, "cluster", st.Cluster, "revision", st.Applied.ID,
		"instances", len(ctl.Running().Instances), "services", len(ctl.Running().Services), "source", src.String())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.listen != "" && o.listen != "off" {
		l, err := status.Listen(o.listen)
		if err != nil {
			runShutdown(ctl, log)
			return fmt.Errorf("--listen: %w", err)
		}
		var hook http.Handler
		if webhookSecret != nil {
			hook = &source.Webhook{Secret: webhookSecret, Trigger: func() { ctl.Trigger("webhook") }}
		}
		srv := status.NewServer(status.Handler(ctl, promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}), hook), log)
		go srv.Serve(l)
		defer srv.Close()
		log.Info("status server listening", "addr", o.listen, "webhook", hook != nil)
	}
	if poller != nil {
		if err := servePeers(runCtx, o.peer, poller, peerCreds, ctl, log); err != nil {
			runShutdown(ctl, log)
			return fmt.Errorf("peer channel: %w", err)
		}
	}
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(runCtx) }()
	loopDone := make(chan error, 1)
	go func() { loopDone <- ctl.Run(runCtx) }()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := statusFile.write(ctl.Status()); err != nil {
			log.Warn("write status", "err", err)
		}
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				ctl.Trigger("signal")
				continue
			}
			log.Info("stopping", "signal", sig.String())
			err := runShutdown(ctl, log)
			cancel()
			<-engineDone
			<-loopDone
			statusFile.write(ctl.Status())
			return err
		case err := <-engineDone:
			// Run ends on its own only on failure (e.g. the link watch broke).
			runShutdown(ctl, log)
			if err == nil {
				err = errors.New("VRRP engine stopped")
			}
			return err
		case <-ctx.Done():
			runShutdown(ctl, log)
			return nil
		case <-tick.C:
		}
	}
}

// runNode chooses the node run acts for when --node is not given: the
// one selectNode picks from the description the daemon starts with. For
// a Git source that is the last good revision in stateDir when there is
// one (what this node ran), so a newer commit the daemon may yet refuse
// does not choose its name; otherwise the source's latest revision.
func runNode(ctx context.Context, src source.Source, stateDir string) (string, error) {
	var rev *source.Revision
	if _, local := src.(*source.Dir); !local {
		rev, _ = controller.NewLastGood(stateDir).Load()
	}
	if rev == nil {
		var err error
		if rev, err = src.Latest(ctx); err != nil {
			return "", fmt.Errorf("--node not given, and choosing this node needs the description: %w", err)
		}
	}
	c, err := model.Load(rev.Files)
	if err != nil {
		return "", err
	}
	return selectNode(c, "")
}

func runShutdown(ctl *controller.Controller, log *slog.Logger) error {
	timeout := runShutdownTimeout
	if st := ctl.Running(); st != nil && st.BGP != nil {
		timeout += st.BGP.DrainTime // withdrawn VIPs drain before the rest stops
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ctl.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// runStatusWriter keeps state-dir/status.json current: the report the
// status server serves at /status, for scripts and tests that read a
// file rather than ask the daemon (and for a daemon started with
// --listen off).
type runStatusWriter struct {
	path string
	last []byte
}

func (w *runStatusWriter) write(r *status.Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if string(b) == string(w.last) {
		return nil
	}
	// Readers never see half a file; it is rewritten only when the
	// report changed.
	if err := renameio.WriteFile(w.path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	w.last = b
	return nil
}
