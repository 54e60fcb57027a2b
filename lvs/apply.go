package lvs

import "fmt"

// ApplyError is Apply stopping at an operation the kernel refused.
type ApplyError struct {
	// Done is how many operations succeeded before Op.
	Done int
	Op   Op
	Err  error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("IPVS: %s failed after %d operations: %v", e.Op, e.Done, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply executes ops in order through ipvs and stops at the first error.
// It returns how many operations were done; the error is an *ApplyError.
func Apply(ipvs IPVS, ops []Op) (int, error) {
	for i, op := range ops {
		var err error
		switch op.Kind {
		case OpAddService:
			err = ipvs.AddService(op.Service)
		case OpUpdateService:
			err = ipvs.UpdateService(op.Service)
		case OpDeleteService:
			err = ipvs.DeleteService(op.Service)
		case OpAddDestination:
			err = ipvs.AddDestination(op.Service, op.Destination)
		case OpUpdateDestination:
			err = ipvs.UpdateDestination(op.Service, op.Destination)
		case OpDeleteDestination:
			err = ipvs.DeleteDestination(op.Service, op.Destination)
		default:
			err = fmt.Errorf("unknown operation kind %d", op.Kind)
		}
		if err != nil {
			return i, &ApplyError{Done: i, Op: op, Err: err}
		}
	}
	return len(ops), nil
}
