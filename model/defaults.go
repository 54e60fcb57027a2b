package model

import "time"

// Built-in defaults, applied where neither the object nor the cluster's
// defaults section sets a value. They follow keepalived's where keepalived
// has a sensible one, so an imported cluster behaves the same.
const (
	DefaultVRRPVersion      = 3
	DefaultAdvertInterval   = time.Second
	DefaultPreempt          = true
	DefaultPreemptDelay     = time.Duration(0)
	DefaultUnicast          = false
	DefaultGARPRepeat       = 5
	DefaultGARPInterval     = time.Duration(0)
	DefaultGARPRefreshDelay = 5 * time.Second
	DefaultNotifyTimeout    = 10 * time.Second

	// Priorities derived from a preference order run from
	// PreferenceTopPriority down in even steps to PreferenceBottomPriority.
	PreferenceTopPriority    = 200
	PreferenceBottomPriority = 100
	// OwnerPriority is reserved for the node that owns the VIPs as real addresses.
	OwnerPriority = 255

	DefaultTrackInterval = 2 * time.Second
	DefaultTrackRise     = 1
	DefaultTrackFall     = 1

	DefaultScheduler  = "wlc"
	DefaultForwarding = NAT
	DefaultProtocol   = TCP
	DefaultWeight     = 1
	DefaultQuorum     = 1
	DefaultDrain      = false

	DefaultCheckInterval = 5 * time.Second
	DefaultCheckTimeout  = 3 * time.Second
	DefaultCheckRetries  = 1
	DefaultCheckRise     = 1
	DefaultCheckFall     = 1
	DefaultHTTPPath      = "/"
	DefaultHTTPStatus    = 200
	DefaultDNSType       = "A"

	// VRRPv3 advert interval bounds (centiseconds on the wire, 12 bits).
	MinAdvertIntervalV3 = 10 * time.Millisecond
	MaxAdvertIntervalV3 = 40950 * time.Millisecond
	// VRRPv2 advert interval bounds (whole seconds on the wire, 8 bits).
	MinAdvertIntervalV2 = time.Second
	MaxAdvertIntervalV2 = 255 * time.Second
)
