package check

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// maxHTTPBody bounds what an HTTP check reads: a health page is small, and a
// misbehaving server must not make the checker buffer gigabytes.
const maxHTTPBody = 1 << 20

// httpProbe is the http and https check, as the package doc describes.
// Every check uses a fresh connection, so a server that died after the
// last check cannot hide behind a pooled one.
type httpProbe struct {
	spec   model.HTTPCheck
	scheme string
	regex  *regexp.Regexp
	client *http.Client
}

func newHTTP(spec *model.HTTPCheck, useTLS bool) (Probe, error) {
	p := &httpProbe{scheme: "http"}
	if spec != nil {
		p.spec = *spec
	}
	p.spec.Path = cmp.Or(p.spec.Path, model.DefaultHTTPPath)
	if p.spec.Path[0] != '/' {
		return nil, fmt.Errorf("http check: path %q must start with /", p.spec.Path)
	}
	if len(p.spec.Status) == 0 {
		p.spec.Status = model.StatusCodes{model.StatusCode(model.DefaultHTTPStatus)}
	}
	if p.spec.BodyRegex != "" {
		re, err := regexp.Compile(p.spec.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("http check: bodyRegex: %v", err)
		}
		p.regex = re
	}
	tr := &http.Transport{
		// Never a proxy from the environment: the check is about this server.
		Proxy:                  nil,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if useTLS {
		p.scheme = "https"
		tr.TLSClientConfig = &tls.Config{
			ServerName:         cmp.Or(p.spec.SNI, hostOnly(p.spec.Host)),
			InsecureSkipVerify: p.spec.InsecureSkipVerify,
		}
	}
	p.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return p.run, nil
}

// hostOnly strips a port (and IPv6 brackets) from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

func (p *httpProbe) run(ctx context.Context, t Target) Result {
	start := time.Now()
	fail := func(err error) Result { return Result{Err: err, Latency: time.Since(start)} }
	u := &url.URL{Scheme: p.scheme, Host: t.String()}
	ref, err := url.Parse(p.spec.Path)
	if err != nil {
		return fail(fmt.Errorf("path %q: %v", p.spec.Path, err))
	}
	u = u.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(err)
	}
	if p.spec.Host != "" {
		req.Host = p.spec.Host
	}
	req.Header.Set("User-Agent", "hakeeper-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return fail(timeoutErr(ctx, unwrapURLError(err)))
	}
	defer resp.Body.Close()
	needBody := p.spec.Body != "" || p.regex != nil
	var body []byte
	if needBody {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
		if err != nil {
			return fail(timeoutErr(ctx, fmt.Errorf("reading body: %w", err)))
		}
	}
	lat := time.Since(start)
	if !p.spec.Status.Contains(resp.StatusCode) {
		return Result{Err: fmt.Errorf("status %d, want %s", resp.StatusCode, statusList(p.spec.Status)), Latency: lat}
	}
	if p.spec.Body != "" && !bytes.Contains(body, []byte(p.spec.Body)) {
		return Result{Err: fmt.Errorf("body does not contain %q", p.spec.Body), Latency: lat}
	}
	if p.regex != nil && !p.regex.Match(body) {
		return Result{Err: fmt.Errorf("body does not match %q", p.spec.BodyRegex), Latency: lat}
	}
	return Result{Latency: lat}
}

// statusList reads "200 or 301-302".
func statusList(s model.StatusCodes) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// unwrapURLError drops net/http's `Get "https://…": ` prefix: the status
// already names the server.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
