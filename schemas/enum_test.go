package schemas_test

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/schemas"
)

// The schema's enums are written by hand beside the model's lists: keep
// them the same sets, so an editor neither offers what validate refuses
// nor flags what it accepts.
func TestSchemaEnumsMatchModel(t *testing.T) {
	var root struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(schemas.ClusterSchema, &root); err != nil {
		t.Fatal(err)
	}
	enum := func(raw json.RawMessage) []string {
		var s struct {
			Enum []string `json:"enum"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		sort.Strings(s.Enum)
		return s.Enum
	}
	var service struct {
		Properties struct {
			SchedulerFlags struct {
				Items json.RawMessage `json:"items"`
			} `json:"schedulerFlags"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(root.Defs["service"], &service); err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, f := range model.SchedulerFlags {
		flags = append(flags, f...)
	}
	for _, tc := range []struct {
		name         string
		schema, want []string
	}{
		{"scheduler", enum(root.Defs["scheduler"]), model.Schedulers},
		{"schedulerFlags", enum(service.Properties.SchedulerFlags.Items), flags},
		{"forwarding", enum(root.Defs["forwarding"]), []string{string(model.NAT), string(model.DR), string(model.Tunnel)}},
		{"protocol", enum(root.Defs["protocol"]), []string{string(model.TCP), string(model.UDP), string(model.SCTP)}},
		{"family", enum(root.Defs["family"]), []string{string(model.IPv4), string(model.IPv6)}},
	} {
		want := slices.Clone(tc.want)
		sort.Strings(want)
		if !slices.Equal(tc.schema, want) {
			t.Errorf("%s: schema enum %v, model %v", tc.name, tc.schema, want)
		}
	}
	// The model has no list of forwarding methods and protocols, only
	// Validate's switch: every value the schema offers must pass it.
	for _, f := range enum(root.Defs["forwarding"]) {
		if errs := model.Validate(serviceCluster(func(s *model.Service) { s.Forwarding = model.Forwarding(f) })); len(errs) > 0 {
			t.Errorf("forwarding %q: the schema allows it, Validate says %v", f, errs)
		}
	}
	for _, p := range enum(root.Defs["protocol"]) {
		if errs := model.Validate(serviceCluster(func(s *model.Service) { s.Protocol = model.Protocol(p) })); len(errs) > 0 {
			t.Errorf("protocol %q: the schema allows it, Validate says %v", p, errs)
		}
	}
	if errs := model.Validate(serviceCluster(func(s *model.Service) { s.Protocol = "icmp" })); len(errs) == 0 {
		t.Error("protocol icmp accepted: the loop above proves nothing")
	}
}

// serviceCluster is a valid cluster with one service, edited by edit.
func serviceCluster(edit func(*model.Service)) *model.Cluster {
	s := &model.Service{VIP: "192.0.2.10", Port: 80, RealServers: []model.RealServer{{Address: "192.0.2.101"}}}
	edit(s)
	return &model.Cluster{
		Nodes:     map[string]*model.Node{"lb1": {Address: "192.0.2.1", Interface: "eth0"}},
		VIPGroups: map[string]*model.VIPGroup{"web": {VRID: 51, VIPs: []model.VIP{{Address: "192.0.2.10/24"}}, Nodes: []string{"lb1"}}},
		Services:  map[string]*model.Service{"http": s},
	}
}
