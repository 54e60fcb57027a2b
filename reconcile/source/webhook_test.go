package source

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWebhook(t *testing.T) {
	secret := []byte("shared-secret")
	body := `{"ref":"refs/heads/main"}`
	for _, tc := range []struct {
		desc    string
		method  string
		headers map[string]string
		secret  []byte
		code    int
		fired   bool
	}{
		{desc: "github signature", method: "POST", headers: map[string]string{"X-Hub-Signature-256": Sign(secret, []byte(body))}, secret: secret, code: 202, fired: true},
		{desc: "bare hex signature", method: "POST", headers: map[string]string{"X-Signature": strings.TrimPrefix(Sign(secret, []byte(body)), "sha256=")}, secret: secret, code: 202, fired: true},
		{desc: "gitlab token", method: "POST", headers: map[string]string{"X-Gitlab-Token": string(secret)}, secret: secret, code: 202, fired: true},
		{desc: "wrong secret", method: "POST", headers: map[string]string{"X-Hub-Signature-256": Sign([]byte("other"), []byte(body))}, secret: secret, code: 401},
		{desc: "no signature", method: "POST", secret: secret, code: 401},
		{desc: "garbage signature", method: "POST", headers: map[string]string{"X-Hub-Signature-256": "sha256=zz"}, secret: secret, code: 401},
		{desc: "GET", method: "GET", secret: secret, code: 405},
		{desc: "no secret configured", method: "POST", headers: map[string]string{"X-Hub-Signature-256": Sign(nil, []byte(body))}, code: 503},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fired := false
			h := &Webhook{Secret: tc.secret, Trigger: func() { fired = true }}
			req := httptest.NewRequest(tc.method, "/hooks/git", strings.NewReader(body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || fired != tc.fired {
				t.Fatalf("code=%d fired=%v, want %d %v (%s)", rec.Code, fired, tc.code, tc.fired, rec.Body)
			}
		})
	}
	// A body over the limit is refused before any HMAC work.
	h := &Webhook{Secret: secret, Trigger: func() { t.Fatal("fired on an oversized body") }}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", maxWebhookBody+10))))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("oversized body: code %d", rec.Code)
	}
}
