package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Delivery is one request Slack sends to an app's HTTP endpoint: a slash
// command or interaction (form body) or an Events API callback (JSON),
// signed with the app's signing secret as Slack signs it
// (https://docs.slack.dev/authentication/verifying-requests-from-slack).
type Delivery struct {
	// URL is the app's endpoint, e.g. http://127.0.0.1:8080/slack/events.
	URL           string
	SigningSecret string
	// ContentType defaults to application/json.
	ContentType string
	Body        []byte
	// RetryNum > 0 marks an Events API redelivery: Slack sends the same
	// body again with X-Slack-Retry-Num and X-Slack-Retry-Reason
	// (https://docs.slack.dev/apis/events-api/#retries).
	RetryNum    int
	RetryReason string
	// At is the signing time (default now).
	At time.Time
}

// Deliver sends d and returns the app's HTTP status and body.
func Deliver(ctx context.Context, d Delivery) (status int, body []byte, err error) {
	at := d.At
	if at.IsZero() {
		at = time.Now()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, nil, fmt.Errorf("deliver to slack endpoint: %w", err)
	}
	ct := d.ContentType
	if ct == "" {
		ct = "application/json"
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(d.SigningSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, d.Body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	if d.RetryNum > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(d.RetryNum))
		req.Header.Set("X-Slack-Retry-Reason", d.RetryReason)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("deliver to slack endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read slack endpoint answer: %w", err)
	}
	return resp.StatusCode, body, nil
}
