package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
)

// maxWebhookBody bounds what an unauthenticated caller can make us read.
const maxWebhookBody = 1 << 20

// Webhook is an HTTP handler that triggers an immediate fetch when a Git
// host reports a push, like Flux's notification receiver. The request
// body must be signed with the shared secret: HMAC-SHA256 in the
// X-Hub-Signature-256 header as "sha256=<hex>" (GitHub, Gitea, Forgejo)
// or the bare hex digest in X-Signature. GitLab, which sends the secret
// itself in X-Gitlab-Token, is accepted too.
type Webhook struct {
	Secret  []byte
	Trigger func()
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if len(h.Secret) == 0 {
		http.Error(w, "webhook secret not configured", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body too large or unreadable", http.StatusBadRequest)
		return
	}
	if !h.authentic(r, body) {
		http.Error(w, "signature mismatch", http.StatusUnauthorized)
		return
	}
	h.Trigger()
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "fetch triggered\n")
}

func (h *Webhook) authentic(r *http.Request, body []byte) bool {
	if tok := r.Header.Get("X-Gitlab-Token"); tok != "" {
		return hmac.Equal([]byte(tok), h.Secret)
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		sig = r.Header.Get("X-Signature")
	}
	sig = strings.TrimPrefix(sig, "sha256=")
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, bodyMAC(h.Secret, body))
}

// Sign returns the X-Hub-Signature-256 value for body: for clients and tests.
func Sign(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(bodyMAC(secret, body))
}

func bodyMAC(secret, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return mac.Sum(nil)
}
