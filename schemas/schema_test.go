package schemas_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/schemas"
)

// unit is one cluster description: the files model.Load gets together.
type unit struct {
	name  string
	files []string
}

// units lists the descriptions under root: each *.yaml file directly in
// root is one (unless dirsOnly), each subdirectory with YAML files is one.
func units(t *testing.T, root string, dirsOnly bool) []unit {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []unit
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		switch {
		case e.IsDir():
			// A directory's description is the YAML files directly in it,
			// as model.Load reads it; a sub-directory holding YAML (an
			// example's earlier revision) is a description of its own.
			byDir := map[string][]string{}
			filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && isYAML(path) {
					byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], path)
				}
				return err
			})
			for _, dir := range slices.Sorted(maps.Keys(byDir)) {
				files := byDir[dir]
				sort.Strings(files)
				out = append(out, unit{name: dir, files: files})
			}
		case !dirsOnly && isYAML(p):
			out = append(out, unit{name: p, files: []string{p}})
		}
	}
	return out
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

func load(t *testing.T, u unit) error {
	t.Helper()
	var files []model.File
	for _, f := range u.files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, model.File{Name: f, Data: data})
	}
	_, err := model.Load(files)
	return err
}

func schemaCheck(t *testing.T, file string) error {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return schemas.ValidateYAML(file, data)
}

func TestValidDescriptionsPassSchemaAndLoad(t *testing.T) {
	all := append(units(t, "../examples", true), units(t, "../model/testdata/valid", false)...)
	if len(all) < 6 {
		t.Fatalf("found only %d descriptions: %v", len(all), all)
	}
	for _, u := range all {
		for _, f := range u.files {
			if err := schemaCheck(t, f); err != nil {
				t.Errorf("%s: the schema rejects a valid file:\n%v", f, err)
			}
		}
		if err := load(t, u); err != nil {
			t.Errorf("%s: model.Load rejects it:\n%v", u.name, err)
		}
	}
}

// The schema may be looser than the Go validator, never stricter: a file
// it rejects must be rejected by model.Load too.
func TestSchemaNeverStricterThanLoad(t *testing.T) {
	for _, u := range units(t, "../model/testdata/invalid", false) {
		var schemaErrs []string
		for _, f := range u.files {
			if err := schemaCheck(t, f); err != nil {
				schemaErrs = append(schemaErrs, err.Error())
			}
		}
		loadErr := load(t, u)
		switch {
		case len(schemaErrs) > 0 && loadErr == nil:
			t.Errorf("%s: the schema rejects it but model.Load accepts it; schema says:\n%s", u.name, strings.Join(schemaErrs, "\n"))
		case len(schemaErrs) == 0 && loadErr != nil:
			t.Logf("%s: only model.Load rejects it (fine: the schema is looser)", u.name)
		}
	}
}

func TestValidateYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		desc string
		yaml string
		want []string // each must appear in the error text
	}{
		{desc: "unknown key", yaml: "nodes:\n  a:\n    address: 192.0.2.1\n    interface: eth0\n    colour: red\n",
			want: []string{"f.yaml:3:5: nodes.a: additional properties 'colour' not allowed"}},
		{desc: "vrid out of range", yaml: "vipGroups:\n  web:\n    vrid: 256\n    vips: [192.0.2.10/24]\n",
			want: []string{"f.yaml:3:11: vipGroups.web.vrid: maximum"}},
		{desc: "bare number as duration", yaml: "defaults:\n  vrrp:\n    advertInterval: 1\n",
			want: []string{"f.yaml:3:21: defaults.vrrp.advertInterval"}},
		{desc: "bad duration unit", yaml: "defaults:\n  vrrp:\n    advertInterval: 1sec\n",
			want: []string{"defaults.vrrp.advertInterval", "does not match pattern"}},
		{desc: "check with two type blocks", yaml: "defaults:\n  check:\n    tcp: {}\n    none: {}\n",
			want: []string{"f.yaml:3:5: defaults.check: more than one check type"}},
		{desc: "bad enum", yaml: "services:\n  s:\n    vip: 192.0.2.10\n    port: 80\n    scheduler: fastest\n    realServers: []\n",
			want: []string{"f.yaml:5:16: services.s.scheduler"}},
		{desc: "VIP mapping with a typo", yaml: "vipGroups:\n  web:\n    vrid: 1\n    vips:\n      - {adress: 192.0.2.1}\n",
			want: []string{"vipGroups.web.vips[0]", "missing property 'address'"}},
		{desc: "command of the wrong type", yaml: "checks:\n  c:\n    command: 5\n",
			want: []string{"f.yaml:3:14: checks.c.command"}},
		{desc: "status code out of range", yaml: "defaults:\n  check:\n    http: {status: [200, 99]}\n",
			want: []string{"defaults.check.http.status[1]"}},
		{desc: "status range beyond 599", yaml: "defaults:\n  check:\n    http: {status: [500-650]}\n",
			want: []string{"defaults.check.http.status[0]"}},
		{desc: "status range not LO-HI", yaml: "defaults:\n  check:\n    http: {status: [2xx]}\n",
			want: []string{"defaults.check.http.status[0]"}},
		{desc: "version 4", yaml: "vipGroups:\n  web:\n    vrid: 1\n    version: 4\n    vips: [192.0.2.1]\n",
			want: []string{"vipGroups.web.version"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := schemas.ValidateYAML("f.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
	for _, ok := range []string{"", "# only a comment\n", "services:\n  s:\n    fwmark: 7\n    realServers: [{address: 192.0.2.1}]\n",
		"defaults:\n  vrrp:\n    preemptDelay: 0\n    advertInterval: 1m30.5s\n",
		"defaults:\n  check:\n    interval: 2s\n",
		"defaults:\n  check:\n    http: {status: [200, 301-302, \"404\", 500 - 599]}\n"} {
		if err := schemas.ValidateYAML("ok.yaml", []byte(ok)); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
}

func TestSchemaID(t *testing.T) {
	var doc struct {
		ID     string `json:"$id"`
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(schemas.ClusterSchema, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != schemas.ClusterSchemaID || doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$id %q $schema %q", doc.ID, doc.Schema)
	}
}

// TestSchemaMatchesModel walks the model types with reflect beside the
// schema: every yaml key must be a schema property and the reverse, every
// object must forbid additional properties, and scalar types must agree.
func TestSchemaMatchesModel(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(schemas.ClusterSchema, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	w := &walker{t: t, defs: defs, seen: map[reflect.Type]bool{}}
	w.structType(reflect.TypeOf(model.Cluster{}), root, "cluster")
	if len(w.seen) < 20 {
		t.Errorf("walked only %d types", len(w.seen))
	}
}

type walker struct {
	t    *testing.T
	defs map[string]any
	seen map[reflect.Type]bool
}

func (w *walker) resolve(s map[string]any, path string) map[string]any {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		def, ok := w.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok {
			w.t.Fatalf("%s: dangling $ref %s", path, ref)
		}
		s = def
	}
	w.t.Fatalf("%s: $ref loop", path)
	return nil
}

var leafTypes = map[reflect.Type]bool{
	reflect.TypeOf(model.Duration(0)): true,
	reflect.TypeOf(model.Command{}):   true,
	// A struct written as an integer or a "LO-HI" string.
	reflect.TypeOf(model.StatusRange{}): true,
	reflect.TypeOf(model.PortRange{}):   true,
}

// leafForms are the JSON types a leaf's schema must allow, one branch
// each.
var leafForms = map[reflect.Type][]string{
	reflect.TypeOf(model.StatusRange{}): {"integer", "string"},
	reflect.TypeOf(model.PortRange{}):   {"integer", "string"},
}

func (w *walker) anyType(t reflect.Type, s map[string]any, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s = w.resolve(s, path)
	if leafTypes[t] {
		for _, form := range leafForms[t] {
			branches, _ := s["oneOf"].([]any)
			if !typeAllows(s, form) && !slices.ContainsFunc(branches, func(b any) bool {
				bm, _ := b.(map[string]any)
				return typeAllows(bm, form)
			}) {
				w.t.Errorf("%s: Go %s may be written as %s, the schema does not allow it", path, t, form)
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.structType(t, s, path)
	case reflect.Slice:
		items, ok := s["items"].(map[string]any)
		if !ok || !typeAllows(s, "array") {
			w.t.Errorf("%s: Go has a list, the schema no array with items", path)
			return
		}
		w.anyType(t.Elem(), items, path+"[]")
	case reflect.Map:
		vals, ok := s["additionalProperties"].(map[string]any)
		if !ok || !typeAllows(s, "object") {
			w.t.Errorf("%s: Go has a map, the schema no object with additionalProperties", path)
			return
		}
		w.anyType(t.Elem(), vals, path+".*")
	case reflect.String:
		if !typeAllows(s, "string") && !enumOf(s, func(v any) bool { _, ok := v.(string); return ok }) {
			w.t.Errorf("%s: Go has a string, the schema %v", path, s["type"])
		}
	case reflect.Int:
		if !typeAllows(s, "integer") && !enumOf(s, func(v any) bool { _, ok := v.(float64); return ok }) {
			w.t.Errorf("%s: Go has an int, the schema %v", path, s["type"])
		}
	case reflect.Bool:
		if !typeAllows(s, "boolean") {
			w.t.Errorf("%s: Go has a bool, the schema %v", path, s["type"])
		}
	default:
		w.t.Errorf("%s: no rule for Go kind %s", path, t.Kind())
	}
}

func typeAllows(s map[string]any, want string) bool {
	switch ty := s["type"].(type) {
	case string:
		return ty == want
	case []any:
		return slices.Contains(ty, any(want))
	}
	return false
}

func enumOf(s map[string]any, ok func(any) bool) bool {
	e, _ := s["enum"].([]any)
	return len(e) > 0 && !slices.ContainsFunc(e, func(v any) bool { return !ok(v) })
}

func (w *walker) structType(t reflect.Type, s map[string]any, path string) {
	w.seen[t] = true
	s = w.resolve(s, path)
	if _, ok := s["properties"]; !ok {
		// String-or-object (VIP): the object branch describes the struct.
		for _, key := range []string{"oneOf", "anyOf"} {
			branches, _ := s[key].([]any)
			for _, b := range branches {
				if bm, ok := b.(map[string]any); ok && bm["properties"] != nil {
					s = bm
				}
			}
		}
	}
	props, ok := s["properties"].(map[string]any)
	if !ok {
		w.t.Errorf("%s: Go type %s is a struct, the schema has no properties", path, t)
		return
	}
	if s["additionalProperties"] != false {
		w.t.Errorf("%s: the schema does not set additionalProperties: false", path)
	}
	fields := map[string]reflect.StructField{}
	yamlFields(t, fields)
	for name, f := range fields {
		p, ok := props[name].(map[string]any)
		if !ok {
			w.t.Errorf("%s.%s: yaml key of %s.%s is missing from the schema", path, name, t.Name(), f.Name)
			continue
		}
		if d, _ := p["description"].(string); d == "" && w.resolve(p, path)["description"] == nil {
			w.t.Errorf("%s.%s: no description", path, name)
		}
		w.anyType(f.Type, p, path+"."+name)
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			w.t.Errorf("%s.%s: schema property has no yaml key in %s", path, name, t)
		}
	}
}

// yamlFields collects the yaml keys of t, descending into inline structs.
func yamlFields(t reflect.Type, out map[string]reflect.StructField) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			yamlFields(f.Type, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
}
