package schemas

// ValidateYAML lives with the tests: they are its only users, holding the
// schema to model.Load through it.

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
)

// ClusterSchemaID is the schema's $id, as modelines name it.
const ClusterSchemaID = "https://raw.githubusercontent.com/hakeeper/hakeeper/main/schemas/cluster.schema.json"

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ClusterSchema))
	if err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ClusterSchemaID, doc); err != nil {
		return nil, fmt.Errorf("embedded schema: %w", err)
	}
	return c.Compile(ClusterSchemaID)
})

// ValidateYAML checks one YAML file of a cluster description against the
// schema. Problems come back as a model.ErrorList naming file, line and
// field. An empty file passes: a description split over several files may
// contain one.
func ValidateYAML(file string, data []byte) error {
	sch, err := compiled()
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return model.ErrorList{{Pos: model.Pos{File: file}, Msg: err.Error()}}
	}
	if len(root.Content) == 0 {
		return nil
	}
	var raw any
	if err := root.Content[0].Decode(&raw); err != nil {
		return model.ErrorList{{Pos: model.Pos{File: file}, Msg: err.Error()}}
	}
	err = sch.Validate(jsonValue(raw))
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// The check's "at most one type block" rule is a `not` under
	// dependentSchemas, which the library reports as "'not' failed": say
	// what it means.
	var errs model.ErrorList
	seen := map[string]bool{}
	for _, leaf := range leaves(ve) {
		n := nodeAt(root.Content[0], leaf.InstanceLocation)
		e := &model.Error{
			Pos:  model.Pos{File: file, Line: n.Line, Column: n.Column},
			Path: dotted(leaf.InstanceLocation),
			Msg:  message(leaf),
		}
		if e.Msg == "'not' failed" && strings.Contains(leaf.SchemaURL, "/dependentSchemas/") {
			e.Msg = "more than one check type: set at most one of tcp, http, https, exec, udp, dns, none"
		}
		if key := e.Error(); !seen[key] {
			seen[key] = true
			errs = append(errs, e)
		}
	}
	errs.Sort()
	return errs.Err()
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// message is the leaf's text without the library's "at '/json/pointer': "
// prefix: the error already names the field the YAML way.
func message(e *jsonschema.ValidationError) string {
	s := e.Error()
	if rest, ok := strings.CutPrefix(s, "at '"); ok {
		if _, msg, ok := strings.Cut(rest, "': "); ok {
			return msg
		}
	}
	return s
}

// nodeAt finds the YAML node at a JSON instance location, or the deepest
// node on the way there.
func nodeAt(n *yaml.Node, loc []string) *yaml.Node {
	for _, tok := range loc {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// dotted writes an instance location the way model errors name fields:
// vipGroups.web.vips[0].
func dotted(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// jsonValue turns decoded YAML into the JSON data model: mappings with
// non-string keys get their keys formatted.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	}
	return v
}
