package slackfake_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// TestUploadURLRateLimitAnswers429UntilLifted: RateLimit("files.upload",
// n<0) answers every POST to an upload URL with 429 and Retry-After until
// it is lifted; the file then arrives through the same URL.
func TestUploadURLRateLimitAnswers429UntilLifted(t *testing.T) {
	fake, api := newFake(t, slackfake.Options{})
	ctx := context.Background()
	const body = "log line\n"
	target, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "a.log", FileSize: len(body)})
	if err != nil {
		t.Fatal(err)
	}
	post := func() *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.UploadURL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	fake.RateLimit("files.upload", -1, 300*time.Millisecond)
	for i := 0; i < 3; i++ {
		if resp := post(); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("POST %d: %d, Retry-After %q; want 429 with 1", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if f := fake.Files(); len(f) != 0 {
		t.Errorf("a rate-limited POST stored bytes: %+v", f)
	}
	fake.RateLimit("files.upload", 0, 0)
	if resp := post(); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST after lifting: %d", resp.StatusCode)
	}
	if f := fake.Files(); len(f) != 1 || f[0].Size != int64(len(body)) {
		t.Errorf("files = %+v", f)
	}
	if n := len(fake.CallsOf("files.upload")); n != 4 {
		t.Errorf("%d upload calls recorded, want 4", n)
	}
}
