package model

import (
	"slices"
	"strings"
)

// Load decodes and validates a cluster description: the one entry point
// callers use. The returned error is an ErrorList naming every problem.
//
// Field-level decode errors (an unknown key, a wrong type) do not stop
// validation of everything else, so a user sees all problems in one run.
// Validation errors that are only echoes of a decode error (the object
// holding a misspelt key is of course missing that field) are left out.
// A file that is not YAML at all stops there: validating the rest would
// report references to everything the broken file defines.
func Load(files []File) (*Cluster, error) {
	c, errs := Decode(files)
	if slices.ContainsFunc(errs, func(e *Error) bool { return e.Path == "" }) {
		return nil, errs
	}
	decodeErrs := errs
	for _, e := range Validate(c) {
		if !echoesDecodeError(e, decodeErrs) {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return c, nil
	}
	errs.Sort()
	return nil, errs
}

func echoesDecodeError(e *Error, decodeErrs ErrorList) bool {
	for _, d := range decodeErrs {
		scope := d.Path
		if strings.HasPrefix(d.Msg, "unknown field") {
			scope = parentPath(d.Path)
		}
		if e.Path == scope || strings.HasPrefix(e.Path, scope+".") || strings.HasPrefix(e.Path, scope+"[") {
			return true
		}
	}
	return false
}
