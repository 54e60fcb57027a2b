package lvs

import "fmt"

// IPVS is the kernel boundary: one network namespace's IPVS table.
// Implementations return normalized values (Service.Normalize,
// Destination.Normalize) so a table read back compares Equal to the one
// written. lvs/ipvskernel implements it on netlink, lvs/lvstest in memory.
type IPVS interface {
	Services() ([]Service, error)
	Destinations(svc Service) ([]Destination, error)
	AddService(svc Service) error
	// UpdateService changes a service's scheduler, flags, timeout and
	// netmask in place; its key stays.
	UpdateService(svc Service) error
	// DeleteService removes a service with its destinations.
	DeleteService(svc Service) error
	AddDestination(svc Service, dst Destination) error
	UpdateDestination(svc Service, dst Destination) error
	DeleteDestination(svc Service, dst Destination) error
}

// ReadTable reads every service with its destinations.
func ReadTable(ipvs IPVS) ([]VirtualServer, error) {
	services, err := ipvs.Services()
	if err != nil {
		return nil, fmt.Errorf("list IPVS services: %w", err)
	}
	table := make([]VirtualServer, 0, len(services))
	for _, svc := range services {
		dests, err := ipvs.Destinations(svc)
		if err != nil {
			return nil, fmt.Errorf("list destinations of IPVS service %s: %w", svc.Key(), err)
		}
		table = append(table, VirtualServer{Service: svc, Destinations: dests})
	}
	return table, nil
}
