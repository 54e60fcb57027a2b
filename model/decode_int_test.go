package model

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// TestParseIntAgreesWithYAML checks the decimal fast path against yaml.v3
// on every form of !!int scalar it could take or must leave to yaml.v3.
func TestParseIntAgreesWithYAML(t *testing.T) {
	for _, text := range []string{
		"0", "7", "-7", "+7", "-0", "1024", "010", "-010", "0x1f", "0o17", "0b101", "1_000",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551615",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		n := doc.Content[0]
		if n.ShortTag() != "!!int" {
			continue // yaml.v3 does not read it as an integer; parseInt never sees it
		}
		var want int64
		wantErr := n.Decode(&want)
		got, err := parseInt(n)
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Errorf("parseInt(%q) = %d, %v; yaml.v3 decodes %d, %v", text, got, err, want, wantErr)
		}
	}
}

// TestSourcesFirstPlaceWinsWithDottedKeys covers the one way two places
// can record the same path: a map key containing a separator. The first
// place written stays, in either order.
func TestSourcesFirstPlaceWinsWithDottedKeys(t *testing.T) {
	for _, tc := range []struct {
		desc, text string
		wantLine   int
	}{
		{"field first", "services:\n  web:\n    port: 80\n  web.port:\n    port: 81\n", 3},
		{"dotted key first", "services:\n  web.port:\n    port: 81\n  web:\n    port: 80\n", 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, _ := Decode([]File{{Name: "a.yaml", Data: []byte(tc.text)}})
			if got := c.Sources.Lookup("services.web.port").Line; got != tc.wantLine {
				t.Errorf("services.web.port recorded at line %d, want %d", got, tc.wantLine)
			}
		})
	}
}
