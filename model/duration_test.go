package model

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Durations are written as an operator writes them, and read back equal.
func TestDurationMarshalYAMLCompact(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "1h30m"},
		{2 * time.Hour, "2h"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1.5s"},
		{100 * time.Millisecond, "100ms"},
		{0, "0s"},
	} {
		out, err := yaml.Marshal(struct {
			D Duration `yaml:"d"`
		}{Duration(tc.d)})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out); got != "d: "+tc.want+"\n" {
			t.Errorf("%v marshals as %q, want d: %s", tc.d, got, tc.want)
		}
		var back struct {
			D Duration `yaml:"d"`
		}
		if err := yaml.Unmarshal(out, &back); err != nil || back.D.D() != tc.d {
			t.Errorf("%q reads back as %v (%v), want %v", out, back.D.D(), err, tc.d)
		}
	}
}
