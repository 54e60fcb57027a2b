package model

import (
	"gopkg.in/yaml.v3"
)

// Decode parses and merges the files of one cluster description.
// PLACEHOLDER: non-strict and without positions; being replaced by the
// strict decoder.
func Decode(files []File) (*Cluster, ErrorList) {
	out := &Cluster{}
	var errs ErrorList
	for _, f := range files {
		var c Cluster
		if err := yaml.Unmarshal(f.Data, &c); err != nil {
			errs = append(errs, &Error{Pos: Pos{File: f.Name}, Msg: err.Error()})
			continue
		}
		if c.Name != "" {
			out.Name = c.Name
		}
		if c.Defaults != nil {
			out.Defaults = c.Defaults
		}
		mergeMap(&out.Nodes, c.Nodes)
		mergeMap(&out.Checks, c.Checks)
		mergeMap(&out.VIPGroups, c.VIPGroups)
		mergeMap(&out.SyncGroups, c.SyncGroups)
		mergeMap(&out.Spread, c.Spread)
		mergeMap(&out.Services, c.Services)
	}
	return out, errs
}

func mergeMap[V any](dst *map[string]V, src map[string]V) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[string]V{}
	}
	for k, v := range src {
		(*dst)[k] = v
	}
}
