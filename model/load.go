package model

// Load decodes and validates a cluster description: the one entry point
// callers use. The returned error is an ErrorList naming every problem.
func Load(files []File) (*Cluster, error) {
	c, errs := Decode(files)
	if len(errs) > 0 {
		return nil, errs
	}
	if errs := Validate(c); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}
