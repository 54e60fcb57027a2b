package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/hakeeper/hakeeper/model"
)

// dnsTypes are the query types a DNS check may ask for.
var dnsTypes = map[string]dnsmessage.Type{
	"A":     dnsmessage.TypeA,
	"AAAA":  dnsmessage.TypeAAAA,
	"CNAME": dnsmessage.TypeCNAME,
	"MX":    dnsmessage.TypeMX,
	"NS":    dnsmessage.TypeNS,
	"PTR":   dnsmessage.TypePTR,
	"SOA":   dnsmessage.TypeSOA,
	"SRV":   dnsmessage.TypeSRV,
	"TXT":   dnsmessage.TypeTXT,
}

// dnsProbe is the dns check, as the package doc describes. An empty
// answer section passes: the server is answering.
type dnsProbe struct {
	name  dnsmessage.Name
	qtype dnsmessage.Type
}

func newDNS(spec *model.DNSCheck) (Probe, error) {
	if spec == nil || spec.Name == "" {
		return nil, errors.New("dns check: no name to query")
	}
	fqdn := spec.Name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	name, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return nil, fmt.Errorf("dns check: name %q: %v", spec.Name, err)
	}
	qtype, ok := dnsTypes[cmp.Or(strings.ToUpper(spec.Type), model.DefaultDNSType)]
	if !ok {
		return nil, fmt.Errorf("dns check: unknown type %q (want A, AAAA, CNAME, MX, NS, PTR, SOA, SRV or TXT)", spec.Type)
	}
	p := &dnsProbe{name: name, qtype: qtype}
	return p.run, nil
}

func (p *dnsProbe) query(id uint16) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: p.name, Type: p.qtype, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (p *dnsProbe) run(ctx context.Context, t Target) Result {
	start := time.Now()
	id := uint16(rand.Uint32())
	msg, err := p.query(id)
	if err != nil {
		return Result{Err: err, Latency: time.Since(start)}
	}
	var rcode dnsmessage.RCode
	err = exchangeUDP(ctx, t, msg, func(reply []byte) bool {
		var parser dnsmessage.Parser
		h, err := parser.Start(reply)
		if err != nil || h.ID != id || !h.Response {
			return false // not ours: keep waiting, like a resolver
		}
		q, err := parser.Question()
		if err != nil || q.Type != p.qtype || q.Class != dnsmessage.ClassINET || !strings.EqualFold(q.Name.String(), p.name.String()) {
			return false
		}
		rcode = h.RCode
		return true
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = errors.New("no matching DNS response before the timeout")
	case err == nil && rcode != dnsmessage.RCodeSuccess:
		err = fmt.Errorf("response code %s", strings.TrimPrefix(rcode.String(), "RCode"))
	}
	return Result{Err: err, Latency: time.Since(start)}
}
