package source

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzWebhookAuth feeds the webhook arbitrary secrets, bodies and
// authentication headers. It must never panic, must trigger exactly when
// the request proves knowledge of the secret (the GitLab token equal to
// it, or a valid HMAC-SHA256 of the body), and must always accept a body
// signed with Sign. `go test` runs the seeds; `go test -fuzz
// FuzzWebhookAuth ./reconcile/source` explores further.
func FuzzWebhookAuth(f *testing.F) {
	sig := func(secret, body string) string { return Sign([]byte(secret), []byte(body)) }
	f.Add("s3cret", `{"ref":"refs/heads/main"}`, "X-Hub-Signature-256", sig("s3cret", `{"ref":"refs/heads/main"}`))
	f.Add("s3cret", `{"ref":"refs/heads/main"}`, "X-Signature", strings.TrimPrefix(sig("s3cret", `{"ref":"refs/heads/main"}`), "sha256="))
	f.Add("s3cret", `{}`, "X-Hub-Signature-256", sig("other", `{}`))
	f.Add("s3cret", `{}`, "X-Hub-Signature-256", "sha256=00")
	f.Add("s3cret", `{}`, "X-Hub-Signature-256", "sha256=zz")
	f.Add("s3cret", `{}`, "X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	f.Add("s3cret", `{}`, "X-Hub-Signature-256", "")
	f.Add("s3cret", `{}`, "X-Gitlab-Token", "s3cret")
	f.Add("s3cret", `{}`, "X-Gitlab-Token", "s3cre")
	f.Add("s3cret", `{}`, "X-Gitlab-Token", "s3cret\x00")
	f.Add("", `{}`, "X-Gitlab-Token", "")
	f.Add("", `{}`, "X-Hub-Signature-256", sig("", `{}`))
	f.Add("s", "", "X-Signature", "SHA256="+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, secret, body, header, value string) {
		if !validHeader(header) || !validValue(value) {
			t.Skip("not something net/http would deliver")
		}
		fired := 0
		h := &Webhook{Secret: []byte(secret), Trigger: func() { fired++ }}
		post := func(header, value string) int {
			req := httptest.NewRequest(http.MethodPost, "/hooks/git", strings.NewReader(body))
			if header != "" {
				req.Header.Set(header, value)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code
		}

		code := post(header, value)
		want := secret != "" && len(body) <= maxWebhookBody && proves(secret, body, header, value)
		if (code == http.StatusAccepted) != want || (fired == 1) != want {
			t.Fatalf("secret %q body %q %s: %q: code %d, triggered %d times; want accepted=%v", secret, body, header, value, code, fired, want)
		}
		if secret == "" && code != http.StatusServiceUnavailable {
			t.Fatalf("no secret configured: code %d", code)
		}
		if secret != "" {
			fired = 0
			if code := post("X-Hub-Signature-256", Sign([]byte(secret), []byte(body))); code != http.StatusAccepted || fired != 1 {
				t.Fatalf("a body signed with the secret: code %d, triggered %d times", code, fired)
			}
		}
	})
}

// proves is the specification authentic implements, written plainly.
func proves(secret, body, header, value string) bool {
	switch http.CanonicalHeaderKey(header) {
	case "X-Gitlab-Token":
		return value != "" && value == secret
	case "X-Hub-Signature-256", "X-Signature":
		got, err := hex.DecodeString(strings.TrimPrefix(value, "sha256="))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		return err == nil && bytes.Equal(got, mac.Sum(nil))
	}
	return false
}

// validHeader and validValue keep to what a client can send: header
// values net/http trims and refuses would test the library, not us.
func validHeader(h string) bool {
	switch http.CanonicalHeaderKey(h) {
	case "X-Gitlab-Token", "X-Hub-Signature-256", "X-Signature", "":
		return true
	}
	return false
}

func validValue(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
