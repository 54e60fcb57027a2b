package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/peer"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// `hakeeper run --peer-ca ... --peer-cert ... --peer-key ...`: the peer
// channel, and with it the ordered rollout and the rollback
// (docs/operations.md, "Rolling a revision out across the cluster").

type peerOptions struct {
	ca, cert, key string
	port          int
	interval      time.Duration
	wait, window  time.Duration
}

func addPeerFlags(cmd *cobra.Command, o *peerOptions) {
	f := cmd.Flags()
	f.StringVar(&o.ca, "peer-ca", "", "PEM CA certificate(s) of the cluster's peer channel; with --peer-cert and --peer-key turns on the ordered rollout and the rollback on bad health")
	f.StringVar(&o.cert, "peer-cert", "", "this node's PEM certificate for the peer channel, issued by --peer-ca with the node's name as a DNS name")
	f.StringVar(&o.key, "peer-key", "", "the PEM private key of --peer-cert")
	f.IntVar(&o.port, "peer-port", peer.DefaultPort, "TCP port every node serves its peers on, at its address in the description")
	f.DurationVar(&o.interval, "peer-interval", peer.DefaultInterval, "how often every peer's report is polled")
	f.DurationVar(&o.wait, "rollout-wait", controller.DefaultRolloutWait, "how long a master holds back a revision changing its group until the backups report it applied and settled; then it applies anyway")
	f.DurationVar(&o.window, "health-window", controller.DefaultHealthWindow, "how long a node watches what a revision changed before it counts as settled; a failure within it rolls the revision back")
}

// rollout returns the controller's Rollout and the poller behind it; nil
// without the peer flags. trigger starts a pass when a peer's report changes.
func (o peerOptions) rollout(node string, log *slog.Logger, trigger func()) (*controller.Rollout, *peer.Poller, *peer.Credentials, error) {
	if o.ca == "" && o.cert == "" && o.key == "" {
		return nil, nil, nil, nil
	}
	if o.ca == "" || o.cert == "" || o.key == "" {
		return nil, nil, nil, errors.New("--peer-ca, --peer-cert and --peer-key go together")
	}
	creds, err := peer.LoadCredentials(o.ca, o.cert, o.key)
	if err != nil {
		return nil, nil, nil, err
	}
	p := peer.NewPoller(creds, node, o.port, o.interval, log, trigger)
	return &controller.Rollout{Peers: p, Wait: o.wait, Window: o.window}, p, creds, nil
}

// servePeers serves the status report to the peers over mutual TLS at
// the node's address, and polls theirs, until ctx ends.
func servePeers(ctx context.Context, o peerOptions, p *peer.Poller, creds *peer.Credentials, ctl *controller.Controller, log *slog.Logger) error {
	addr := net.JoinHostPort(ctl.Running().Address.String(), strconv.Itoa(o.port))
	l, err := peer.Listen(addr, creds)
	if err != nil {
		return err
	}
	srv := status.NewServer(status.Handler(ctl, nil, nil), log)
	// Failed handshakes (a host without a certificate) at debug: anyone
	// reaching the port could fill the log otherwise. The polling side
	// logs a peer it cannot authenticate.
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	go srv.Serve(l)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go p.Run(ctx)
	log.Info("peer channel listening (mutual TLS)", "addr", addr)
	return nil
}
