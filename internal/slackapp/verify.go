package slackapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSkew is how far a request timestamp may be from now, either way; Slack
// recommends 5 minutes to stop replays
// (https://api.slack.com/authentication/verifying-requests-from-slack).
const maxSkew = 5 * time.Minute

// Header names Slack signs requests with.
const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
	signatureV0     = "v0="
)

// errBadSignature is what every verification failure wraps.
var errBadSignature = errors.New("invalid slack signature")

// Verify checks a Slack request signature: v0 HMAC-SHA256 of "v0:{ts}:{body}"
// keyed with the signing secret (its raw bytes), compared in constant time. It
// rejects a missing or garbled header and a timestamp more than 5 minutes from
// now in either direction. The error never contains the secret or signature.
func Verify(secret string, header http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("verify: no signing secret configured: %w", errBadSignature)
	}
	tsRaw := header.Get(headerTimestamp)
	sigRaw := header.Get(headerSignature)
	if tsRaw == "" || sigRaw == "" {
		return fmt.Errorf("verify: missing %s or %s header: %w", headerTimestamp, headerSignature, errBadSignature)
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil || ts <= 0 {
		return fmt.Errorf("verify: malformed timestamp: %w", errBadSignature)
	}
	skew := now.Sub(time.Unix(ts, 0))
	if skew > maxSkew || skew < -maxSkew {
		return fmt.Errorf("verify: timestamp %d is %s from now: %w", ts, skew.Truncate(time.Second), errBadSignature)
	}
	hexSig, ok := strings.CutPrefix(sigRaw, signatureV0)
	if !ok {
		return fmt.Errorf("verify: unsupported signature version: %w", errBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("verify: malformed signature: %w", errBadSignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + tsRaw + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("verify: signature mismatch: %w", errBadSignature)
	}
	return nil
}
