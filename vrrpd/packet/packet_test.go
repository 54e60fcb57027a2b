package packet

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	src4 = netip.MustParseAddr("192.0.2.1")
	src6 = netip.MustParseAddr("fe80::1")
)

// readHex reads a golden file: hex bytes with '#' comments.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

var goldens = []struct {
	desc, file string
	src, dst   netip.Addr
	advert     Advert
}{
	{
		desc: "v2 PASS", file: "v2_pass.hex", src: src4, dst: Group4,
		advert: Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second,
			Addrs:    []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")},
			AuthType: AuthPass, AuthData: PassAuth("secret")},
	},
	{
		desc: "v3 IPv4", file: "v3_ipv4.hex", src: src4, dst: Group4,
		advert: Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}},
	},
	{
		desc: "v3 IPv6", file: "v3_ipv6.hex", src: src6, dst: Group6,
		advert: Advert{Version: 3, VRID: 7, Priority: 200, Interval: 100 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::10")}},
	},
}

func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.desc, func(t *testing.T) {
			want := readHex(t, g.file)
			got, err := Encode(&g.advert, g.src, g.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode:\n got % x\nwant % x", got, want)
			}
			dec, err := Decode(want, g.src, g.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*dec, g.advert) {
				t.Errorf("decode:\n got %+v\nwant %+v", *dec, g.advert)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	v2 := readHex(t, "v2_pass.hex")
	v3 := readHex(t, "v3_ipv4.hex")
	v6 := readHex(t, "v3_ipv6.hex")
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	tests := []struct {
		desc     string
		b        []byte
		src, dst netip.Addr
		want     Reason
	}{
		{"empty", nil, src4, Group4, Truncated},
		{"short header", v3[:7], src4, Group4, Truncated},
		{"missing address", v3[:10], src4, Group4, Truncated},
		{"missing v2 auth data", v2[:20], src4, Group4, Truncated},
		{"trailing byte", append(append([]byte(nil), v3...), 0), src4, Group4, BadLength},
		{"count too small", mod(v2, func(b []byte) []byte { b[3] = 1; return b }), src4, Group4, BadLength},
		{"version 1", mod(v3, func(b []byte) []byte { b[0] = 0x11; return b }), src4, Group4, BadVersion},
		{"version 4", mod(v3, func(b []byte) []byte { b[0] = 0x41; return b }), src4, Group4, BadVersion},
		{"type 2", mod(v3, func(b []byte) []byte { b[0] = 0x32; return b }), src4, Group4, BadType},
		{"flipped priority", mod(v3, func(b []byte) []byte { b[2] ^= 1; return b }), src4, Group4, BadChecksum},
		{"v2 flipped password", mod(v2, func(b []byte) []byte { b[23] = 'x'; return b }), src4, Group4, BadChecksum},
		{"v3 other source", v3, netip.MustParseAddr("192.0.2.2"), Group4, BadChecksum},
		{"v3 other destination", v3, src4, netip.MustParseAddr("192.0.2.9"), BadChecksum},
		{"v6 other source", v6, netip.MustParseAddr("fe80::2"), Group6, BadChecksum},
		{"v2 over IPv6", v2, src6, Group6, BadFamily},
		{"v3 mixed families", v3, src4, Group6, BadFamily},
		{"v2 auth type 3", mod(v2, func(b []byte) []byte { b[4] = 3; b[6] -= 2; return b }), src4, Group4, BadAuth},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Decode(tt.b, tt.src, tt.dst)
			if got := ReasonOf(err); got != tt.want {
				t.Errorf("reason %v (err %v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	a4 := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
	tests := []struct {
		desc     string
		a        Advert
		src, dst netip.Addr
	}{
		{"v2 fractional interval", Advert{Version: 2, Interval: 1500 * time.Millisecond, Addrs: a4}, src4, Group4},
		{"v2 interval over 255s", Advert{Version: 2, Interval: 256 * time.Second, Addrs: a4}, src4, Group4},
		{"v2 IPv6 address", Advert{Version: 2, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, src4, Group4},
		{"v3 5ms interval step", Advert{Version: 3, Interval: 15 * time.Millisecond, Addrs: a4}, src4, Group4},
		{"v3 interval over 40.95s", Advert{Version: 3, Interval: 41 * time.Second, Addrs: a4}, src4, Group4},
		{"v3 without source", Advert{Version: 3, Interval: time.Second, Addrs: a4}, netip.Addr{}, Group4},
		{"v3 IPv4 address over IPv6", Advert{Version: 3, Interval: time.Second, Addrs: a4}, src6, Group6},
		{"version 4", Advert{Version: 4, Interval: time.Second, Addrs: a4}, src4, Group4},
		{"256 addresses", Advert{Version: 3, Interval: time.Second, Addrs: make([]netip.Addr, 256)}, src4, Group4},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if b, err := Encode(&tt.a, tt.src, tt.dst); err == nil {
				t.Errorf("encoded % x, want an error", b)
			}
		})
	}
}

// The v3 interval field is 12 bits; the top 4 bits are reserved and must be ignored on receipt.
func TestDecodeIgnoresReservedBits(t *testing.T) {
	b := readHex(t, "v3_ipv4.hex")
	b[4] |= 0xf0
	b[6], b[7] = 0, 0
	sum := finish(pseudoSum(src4, Group4, len(b)) + rawSum(b))
	b[6], b[7] = byte(sum>>8), byte(sum)
	a, err := Decode(b, src4, Group4)
	if err != nil {
		t.Fatal(err)
	}
	if a.Interval != time.Second {
		t.Errorf("interval %v, want 1s", a.Interval)
	}
}

func TestPassAuth(t *testing.T) {
	if got := PassAuth("pw"); got != [8]byte{'p', 'w'} {
		t.Errorf("PassAuth(pw) = %q", got)
	}
	if got := PassAuth("0123456789"); string(got[:]) != "01234567" {
		t.Errorf("long password = %q, want first 8 bytes", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		f.Add(readHex(f, g.file), !g.src.Is4())
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := src4, Group4
		if v6 {
			src, dst = src6, Group6
		}
		a, err := Decode(b, src, dst)
		if err != nil {
			if ReasonOf(err) == ReasonNone {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		// A decoded advert is valid: it must re-encode and decode to itself.
		enc, err := Encode(a, src, dst)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", a, err)
		}
		back, err := Decode(enc, src, dst)
		if err != nil {
			t.Fatalf("decoding re-encoded % x: %v", enc, err)
		}
		if !reflect.DeepEqual(a, back) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, a)
		}
		if len(enc) != len(b) {
			t.Fatalf("re-encoded length %d, input %d", len(enc), len(b))
		}
	})
}

func BenchmarkAdvertRoundTrip(b *testing.B) {
	a := goldens[1].advert
	var buf []byte
	var dec Advert
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendEncode(buf[:0], &a, src4, Group4)
		if err != nil {
			b.Fatal(err)
		}
		if err := DecodeInto(&dec, buf, src4, Group4); err != nil {
			b.Fatal(err)
		}
	}
}
