package model

import (
	"encoding/json"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestStatusCodesContains(t *testing.T) {
	codes := StatusCodes{{200, 299}, StatusCode(301), {404, 404}}
	for _, tc := range []struct {
		code int
		want bool
	}{
		{199, false}, {200, true}, {250, true}, {299, true}, {300, false},
		{301, true}, {302, false}, {404, true}, {503, false},
	} {
		if got := codes.Contains(tc.code); got != tc.want {
			t.Errorf("%v contains %d = %v, want %v", codes, tc.code, got, tc.want)
		}
	}
	if (StatusCodes{}).Contains(200) {
		t.Error("an empty list contains 200")
	}
}

func TestStatusCodesNormalize(t *testing.T) {
	for _, tc := range []struct {
		desc string
		in   StatusCodes
		want StatusCodes
	}{
		{desc: "sorted", in: StatusCodes{{404, 404}, {200, 200}}, want: StatusCodes{{200, 200}, {404, 404}}},
		{desc: "adjacent codes merge", in: StatusCodes{{201, 201}, {200, 200}, {202, 204}}, want: StatusCodes{{200, 204}}},
		{desc: "overlap and containment merge", in: StatusCodes{{200, 299}, {250, 310}, {204, 204}}, want: StatusCodes{{200, 310}}},
		{desc: "duplicates collapse", in: StatusCodes{{200, 200}, {200, 200}}, want: StatusCodes{{200, 200}}},
		{desc: "gap kept", in: StatusCodes{{200, 200}, {202, 202}}, want: StatusCodes{{200, 200}, {202, 202}}},
		{desc: "backwards range dropped", in: StatusCodes{{299, 200}, {301, 301}}, want: StatusCodes{{301, 301}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := tc.in.Normalize()
			if !slices.Equal(got, tc.want) {
				t.Errorf("Normalize(%v) = %v, want %v", in, got, tc.want)
			}
			if !slices.Equal(tc.in, in) {
				t.Errorf("Normalize changed its input to %v", tc.in)
			}
		})
	}
}

// A list reads from YAML as an operator writes it and is written back the
// same way: on one line, codes as integers, ranges as plain LO-HI scalars.
func TestStatusCodesYAML(t *testing.T) {
	type doc struct {
		Status StatusCodes `yaml:"status"`
	}
	for _, tc := range []struct {
		desc, in, out string
		want          StatusCodes
	}{
		{desc: "codes", in: "status: [200, 204]", out: "status: [200, 204]\n", want: StatusCodes{{200, 200}, {204, 204}}},
		{desc: "plain range", in: "status: [200-299]", out: "status: [200-299]\n", want: StatusCodes{{200, 299}}},
		{desc: "mixed, quoted and spaced", in: `status: [200, "301-302", 404 - 410, "503"]`, out: "status: [200, 301-302, 404-410, 503]\n",
			want: StatusCodes{{200, 200}, {301, 302}, {404, 410}, {503, 503}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var d doc
			if err := yaml.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Status, tc.want) {
				t.Fatalf("%s reads as %v, want %v", tc.in, d.Status, tc.want)
			}
			out, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.out {
				t.Errorf("written as %q, want %q", out, tc.out)
			}
			var back doc
			if err := yaml.Unmarshal(out, &back); err != nil || !slices.Equal(back.Status, tc.want) {
				t.Errorf("%q reads back as %v (%v)", out, back.Status, err)
			}
		})
	}
	for _, bad := range []string{"status: [2xx]", "status: [200-]", "status: [200-299-300]", "status: [true]", "status: [[200]]", "status: [2.5]"} {
		var d doc
		if err := yaml.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s reads as %v, want an error", bad, d.Status)
		}
	}
}

// The JSON form (show --json, the daemon's /config) is the YAML's, and
// reads back equal.
func TestStatusCodesJSON(t *testing.T) {
	codes := StatusCodes{{200, 200}, {301, 302}}
	b, err := json.Marshal(codes)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[200,"301-302"]` {
		t.Errorf("marshals as %s", b)
	}
	var back StatusCodes
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back, codes) {
		t.Errorf("%s reads back as %v (%v)", b, back, err)
	}
	for _, bad := range []string{`[2.5]`, `["2xx"]`, `[true]`, `[{"First":200}]`} {
		var s StatusCodes
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s reads as %v, want an error", bad, s)
		}
	}
}

func TestStatusCodesString(t *testing.T) {
	if got := (StatusCodes{{200, 200}, {301, 302}}).String(); got != "200,301-302" {
		t.Errorf("String = %q", got)
	}
}
