// Package kernel implements vrrpd's kernel-boundary interfaces for the
// current network namespace: raw protocol-112 sockets (Conn), VIPs via
// rtnetlink (Addresses), gratuitous ARP and unsolicited neighbour
// advertisements (Announcer), link state (Links), hook and check
// processes (Runner), the wall clock (Clock) and the record of the VIPs
// the engine added, kept in the state directory (VIPFile).
//
// To run against another namespace, run the process inside it (`ip netns
// exec`); tests observe other namespaces only through NewHandleAt handles.
package kernel
