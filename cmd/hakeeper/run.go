package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/kernel"
)

func init() { addCommand(newRunCmd) }

// runShutdownTimeout bounds a graceful stop: priority-0 adverts, VIP
// removal and stop hooks (whose own timeout defaults to 10s).
const runShutdownTimeout = 15 * time.Second

type runOptions struct {
	node     string
	source   string
	logLevel string
	stateDir string
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --node NAME --source PATH",
		Short: "Run this node's VRRP instances from the cluster description (foreground daemon)",
		Long: `run reads the cluster description (a YAML file or a directory of them),
resolves this node's desired state and runs its VRRP instances against the
kernel of the current network namespace.

Signals: SIGHUP re-reads the description and applies it live (a revision
that does not load is logged and changes nothing); SIGTERM or SIGINT stop
gracefully (masters advertise priority 0 and release their VIPs) and exit 0.

IPVS virtual services are not programmed by run; the reconciler does that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "this node's name in the description (default: the hostname)")
	f.StringVar(&o.source, "source", "", "cluster description: a YAML file or a directory (required)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.stateDir, "state-dir", "", "directory for status.json (instance states, rewritten on change)")
	return cmd
}

func runLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// runLoadState reads and validates the description and resolves the node.
func runLoadState(source, node string) (*model.NodeState, error) {
	files, err := reconcile.ReadFiles(source)
	if err != nil {
		return nil, err
	}
	c, err := model.Load(files)
	if err != nil {
		return nil, err
	}
	return model.Desired(c, node)
}

func runDaemon(ctx context.Context, o runOptions, stderr io.Writer) error {
	log, err := runLogger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	if o.source == "" {
		return errors.New("--source is required")
	}
	if o.node == "" {
		if o.node, err = os.Hostname(); err != nil {
			return fmt.Errorf("--node not given and no hostname: %w", err)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// Subscribe before loading so a signal during start-up is not lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	state, err := runLoadState(o.source, o.node)
	if err != nil {
		return err
	}
	runWarnUnsupported(log, state)

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

	engine, err := vrrpd.New(vrrpd.Config{
		Clock:     kernel.Clock{},
		Conns:     kernel.ConnFactory{},
		Addrs:     addrs,
		Announcer: announcer,
		Links:     links,
		Runner:    kernel.Runner{},
		Logger:    log,
	})
	if err != nil {
		return err
	}
	if err := engine.Apply(state); err != nil {
		// Instances that did start must not keep VIPs behind us.
		runShutdown(engine, log)
		return fmt.Errorf("start VRRP instances: %w", err)
	}
	log.Info("running", "node", o.node, "cluster", state.Cluster, "instances", len(state.Instances), "source", o.source)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- engine.Run(runCtx) }()

	var status *runStatusWriter
	if o.stateDir != "" {
		if status, err = newRunStatusWriter(o.stateDir); err != nil {
			runShutdown(engine, log)
			return err
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if status != nil {
			if err := status.write(engine.Status()); err != nil {
				log.Warn("write status", "err", err)
			}
		}
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				runReload(engine, log, o)
				continue
			}
			log.Info("stopping", "signal", sig.String())
			err := runShutdown(engine, log)
			cancel()
			<-runErr
			if status != nil {
				status.write(engine.Status())
			}
			return err
		case err := <-runErr:
			// Run ends on its own only on failure (e.g. the link watch broke).
			runShutdown(engine, log)
			if err == nil {
				err = errors.New("VRRP engine stopped")
			}
			return err
		case <-ctx.Done():
			runShutdown(engine, log)
			return nil
		case <-tick.C:
		}
	}
}

func runShutdown(engine *vrrpd.Engine, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), runShutdownTimeout)
	defer cancel()
	if err := engine.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// runReload applies a new revision; any failure leaves the running
// configuration untouched.
func runReload(engine *vrrpd.Engine, log *slog.Logger, o runOptions) {
	state, err := runLoadState(o.source, o.node)
	if err != nil {
		log.Error("reload failed, keeping the running configuration", "err", runOneLine(err))
		return
	}
	runWarnUnsupported(log, state)
	if err := engine.Apply(state); err != nil {
		log.Error("reload failed to apply", "err", runOneLine(err))
		return
	}
	log.Info("reloaded", "instances", len(state.Instances))
}

func runWarnUnsupported(log *slog.Logger, state *model.NodeState) {
	if len(state.Services) > 0 {
		log.Warn("virtual services are not programmed by `hakeeper run`", "services", len(state.Services))
	}
}

// runOneLine keeps a multi-error (every problem of a description) on one
// log line.
func runOneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// runStatusWriter keeps state-dir/status.json current.
type runStatusWriter struct {
	path string
	last []byte
}

func newRunStatusWriter(dir string) (*runStatusWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	return &runStatusWriter{path: filepath.Join(dir, "status.json")}, nil
}

type runInstanceStatus struct {
	Name        string    `json:"name"`
	Interface   string    `json:"interface"`
	Family      string    `json:"family"`
	VRID        uint8     `json:"vrid"`
	State       string    `json:"state"`
	Priority    uint8     `json:"priority"`
	Master      string    `json:"master,omitempty"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason,omitempty"`
	Transitions uint64    `json:"transitions"`
}

func (w *runStatusWriter) write(st []vrrpd.InstanceStatus) error {
	out := make([]runInstanceStatus, 0, len(st))
	for _, s := range st {
		r := runInstanceStatus{
			Name: s.Name, Interface: s.Key.Interface, Family: string(s.Key.Family), VRID: s.Key.VRID,
			State: string(s.State), Priority: s.Priority, Since: s.LastTransition, Reason: s.Reason,
			Transitions: s.Counters.Transitions,
		}
		if s.MasterAddr.IsValid() {
			r.Master = s.MasterAddr.String()
		}
		out = append(out, r)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if string(b) == string(w.last) {
		return nil
	}
	tmp := w.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.path); err != nil {
		return err
	}
	w.last = b
	return nil
}
