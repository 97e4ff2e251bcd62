package slackfake_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func TestDeliverSignsAsSlackAndMarksRetries(t *testing.T) {
	const secret = "deliver-secret"
	type seen struct {
		verifyErr         error
		retryNum, reason  string
		contentType, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{slackapp.Verify(secret, r.Header, b, time.Now()), r.Header.Get("X-Slack-Retry-Num"),
			r.Header.Get("X-Slack-Retry-Reason"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		d          slackfake.Delivery
		wantVerify bool
		wantRetry  string
		wantReason string
		wantType   string
	}{
		{"first delivery has no retry headers", slackfake.Delivery{SigningSecret: secret, Body: []byte(`{"event_id":"Ev1"}`)}, true, "", "", "application/json"},
		{"redelivery carries retry number and reason", slackfake.Delivery{SigningSecret: secret, Body: []byte(`{"event_id":"Ev1"}`), RetryNum: 1, RetryReason: "http_timeout"}, true, "1", "http_timeout", "application/json"},
		{"form body keeps its content type", slackfake.Delivery{SigningSecret: secret, Body: []byte("text=help"), ContentType: "application/x-www-form-urlencoded"}, true, "", "", "application/x-www-form-urlencoded"},
		{"another secret does not verify", slackfake.Delivery{SigningSecret: "other", Body: []byte(`{}`)}, false, "", "", "application/json"},
		{"a stale signature does not verify", slackfake.Delivery{SigningSecret: secret, Body: []byte(`{}`), At: time.Now().Add(-10 * time.Minute)}, false, "", "", "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.URL = srv.URL + "/slack/events"
			status, _, err := slackfake.Deliver(context.Background(), tc.d)
			if err != nil || status != http.StatusTeapot {
				t.Fatalf("Deliver = %d, %v", status, err)
			}
			s := <-got
			if (s.verifyErr == nil) != tc.wantVerify {
				t.Errorf("Verify = %v, want ok %v", s.verifyErr, tc.wantVerify)
			}
			if s.retryNum != tc.wantRetry || s.reason != tc.wantReason || s.contentType != tc.wantType || s.body != string(tc.d.Body) {
				t.Errorf("got retry %q reason %q type %q body %q", s.retryNum, s.reason, s.contentType, s.body)
			}
		})
	}
}
