// Package packet encodes and decodes VRRP advertisements: version 2
// (RFC 3768, IPv4 only, optional simple-password authentication) and
// version 3 (RFC 5798, IPv4 and IPv6, checksum over a pseudo-header).
// It works on the VRRP message alone (the bytes after the IP header); the
// addresses needed for the v3 checksum are passed in. Decode errors carry
// a Reason so callers can count dropped packets by cause.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the IP protocol number of VRRP.
const Protocol = 112

// TypeAdvertisement is the only VRRP message type.
const TypeAdvertisement = 1

// VRRPv2 authentication types (RFC 3768 section 5.3.6).
const (
	AuthNone = 0
	AuthPass = 1
	AuthAH   = 2 // obsolete; decoded so it can be rejected by policy
)

// Multicast groups adverts are sent to.
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

const (
	headerLen   = 8
	authDataLen = 8
	maxV3Centis = 1<<12 - 1
)

// Advert is one VRRP advertisement.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the (Max) Advertisement Interval: whole seconds (1 to 255)
	// on the wire for v2, centiseconds (up to 40.95 s) for v3.
	Interval time.Duration
	// Addrs are the virtual addresses, all of one family (IPv4 for v2).
	Addrs []netip.Addr
	// AuthType and AuthData are v2 only. For AuthPass the data is the
	// password, NUL-padded to 8 bytes.
	AuthType uint8
	AuthData [authDataLen]byte
}

// Reason classifies why a message could not be decoded; it is named as
// the engine counts it.
type Reason string

const (
	ReasonNone  Reason = ""
	Truncated   Reason = "truncated"    // shorter than its header or its address count says
	BadVersion  Reason = "bad-version"  // version nibble is neither 2 nor 3
	BadType     Reason = "bad-type"     // type nibble is not 1 (advertisement)
	BadChecksum Reason = "bad-checksum" // checksum does not verify
	BadLength   Reason = "bad-length"   // longer than its address count says
	BadAuth     Reason = "bad-auth"     // unknown v2 authentication type
	BadFamily   Reason = "bad-family"   // v2 over IPv6, or addresses of the wrong family
)

// Error is a decode error.
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return "vrrp: " + string(e.Reason) + ": " + e.Msg }

// ReasonOf returns the Reason of a decode error, ReasonNone otherwise.
func ReasonOf(err error) Reason {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonNone
}

func errorf(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// PassAuth returns password as v2 PASS authentication data: at most 8
// bytes, NUL-padded (longer passwords are cut, as keepalived does).
func PassAuth(password string) [authDataLen]byte {
	var d [authDataLen]byte
	copy(d[:], password)
	return d
}

// Encode returns the wire form of a. src and dst are the IP source and
// destination (used by the v3 checksum; ignored for v2).
func Encode(a *Advert, src, dst netip.Addr) ([]byte, error) {
	return AppendEncode(nil, a, src, dst)
}

// AppendEncode appends the wire form of a to buf.
func AppendEncode(buf []byte, a *Advert, src, dst netip.Addr) ([]byte, error) {
	if len(a.Addrs) > 255 {
		return nil, fmt.Errorf("vrrp: %d addresses, at most 255 fit", len(a.Addrs))
	}
	start := len(buf)
	var intervalField uint16
	addrLen := 4
	switch a.Version {
	case 2:
		if a.Interval%time.Second != 0 || a.Interval < 0 || a.Interval > 255*time.Second {
			return nil, fmt.Errorf("vrrp: v2 advert interval %v is not 0-255 whole seconds", a.Interval)
		}
		if a.AuthType > AuthAH {
			return nil, fmt.Errorf("vrrp: unknown v2 auth type %d", a.AuthType)
		}
		intervalField = uint16(a.Interval / time.Second)
	case 3:
		if a.Interval%(10*time.Millisecond) != 0 || a.Interval < 0 || a.Interval > maxV3Centis*10*time.Millisecond {
			return nil, fmt.Errorf("vrrp: v3 advert interval %v is not 0-40.95s in 10ms steps", a.Interval)
		}
		if !src.IsValid() || !dst.IsValid() || src.Unmap().Is4() != dst.Unmap().Is4() {
			return nil, fmt.Errorf("vrrp: v3 needs source and destination of one family, got %v and %v", src, dst)
		}
		if !src.Unmap().Is4() {
			addrLen = 16
		}
		intervalField = uint16(a.Interval / (10 * time.Millisecond))
	default:
		return nil, fmt.Errorf("vrrp: unknown version %d", a.Version)
	}
	buf = append(buf, byte(a.Version)<<4|TypeAdvertisement, a.VRID, a.Priority, byte(len(a.Addrs)))
	if a.Version == 2 {
		buf = append(buf, a.AuthType, byte(intervalField))
	} else {
		buf = binary.BigEndian.AppendUint16(buf, intervalField) // rsvd bits zero
	}
	buf = append(buf, 0, 0) // checksum
	for _, ad := range a.Addrs {
		switch u := ad.Unmap(); {
		case addrLen == 4 && u.Is4():
			b := u.As4()
			buf = append(buf, b[:]...)
		case addrLen == 16 && !u.Is4():
			b := u.As16()
			buf = append(buf, b[:]...)
		default:
			return nil, fmt.Errorf("vrrp: address %v does not match the advert's family", ad)
		}
	}
	if a.Version == 2 {
		buf = append(buf, a.AuthData[:]...)
	}
	msg := buf[start:]
	var sum uint32
	if a.Version == 3 {
		sum = pseudoSum(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:], finish(sum+rawSum(msg)))
	return buf, nil
}

// Decode parses a VRRP message received from src to dst. The address
// family of src selects IPv4 or IPv6. It checks version, type, length
// and checksum; policy checks (TTL, authentication data, VRID, interval)
// are the caller's.
func Decode(b []byte, src, dst netip.Addr) (*Advert, error) {
	a := &Advert{}
	if err := DecodeInto(a, b, src, dst); err != nil {
		return nil, err
	}
	return a, nil
}

// DecodeInto is Decode into a caller-owned Advert, reusing its Addrs.
func DecodeInto(a *Advert, b []byte, src, dst netip.Addr) error {
	if len(b) < headerLen {
		return errorf(Truncated, "%d bytes, the header alone is %d", len(b), headerLen)
	}
	src, dst = src.Unmap(), dst.Unmap()
	is4 := src.Is4()
	version := int(b[0] >> 4)
	if version != 2 && version != 3 {
		return errorf(BadVersion, "version %d", version)
	}
	if t := b[0] & 0x0f; t != TypeAdvertisement {
		return errorf(BadType, "type %d", t)
	}
	count := int(b[3])
	addrLen, trailer := 4, 0
	if version == 2 {
		if !is4 {
			return errorf(BadFamily, "VRRPv2 from IPv6 source %v", src)
		}
		trailer = authDataLen
	} else {
		if !src.IsValid() || !dst.IsValid() || dst.Is4() != is4 {
			return errorf(BadFamily, "source %v and destination %v are not one family", src, dst)
		}
		if !is4 {
			addrLen = 16
		}
	}
	want := headerLen + count*addrLen + trailer
	if len(b) < want {
		return errorf(Truncated, "%d bytes, %d addresses need %d", len(b), count, want)
	}
	if len(b) > want {
		return errorf(BadLength, "%d bytes, %d addresses need %d", len(b), count, want)
	}
	var sum uint32
	if version == 3 {
		sum = pseudoSum(src, dst, len(b))
	}
	if finish(sum+rawSum(b)) != 0 {
		return errorf(BadChecksum, "checksum 0x%04x does not verify", binary.BigEndian.Uint16(b[6:]))
	}
	a.Version = version
	a.VRID = b[1]
	a.Priority = b[2]
	a.AuthType = 0
	a.AuthData = [authDataLen]byte{}
	if version == 2 {
		a.AuthType = b[4]
		if a.AuthType > AuthAH {
			return errorf(BadAuth, "auth type %d", a.AuthType)
		}
		a.Interval = time.Duration(b[5]) * time.Second
		copy(a.AuthData[:], b[want-authDataLen:])
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&maxV3Centis) * 10 * time.Millisecond
	}
	a.Addrs = a.Addrs[:0]
	for i := range count {
		ad, _ := netip.AddrFromSlice(b[headerLen+i*addrLen:][:addrLen]) // 4 bytes: IPv4
		a.Addrs = append(a.Addrs, ad)
	}
	return nil
}

// rawSum is the ones'-complement partial sum of b as 16-bit big-endian words.
func rawSum(b []byte) uint32 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// pseudoSum sums the IPv4 (RFC 791) or IPv6 (RFC 8200) pseudo-header.
// Both place the protocol in the low byte of a word and the length after
// the addresses, so one sum serves both.
func pseudoSum(src, dst netip.Addr, length int) uint32 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = rawSum(a[:]) + rawSum(b[:])
	} else {
		a, b := src.As16(), dst.As16()
		s = rawSum(a[:]) + rawSum(b[:])
	}
	return s + Protocol + uint32(length)
}

func finish(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
