package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

// waits records the Retry-After waits a Slack poster asked for, without
// waiting.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprint(w.d)
}

func retryUploader(t *testing.T, sleep func(context.Context, time.Duration) error) (*Slack, *slackfake.Server, *Spool) {
	t.Helper()
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	s := NewSlack(SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())), PerChannel: time.Millisecond, Sleep: sleep})
	spool := NewSpool(filepath.Join(t.TempDir(), "spool"))
	if _, err := spool.Clean(); err != nil {
		t.Fatal(err)
	}
	return s, fake, spool
}

// relayCases are the three ways bytes reach the upload URL: from a spool
// file (unknown size), streamed through Write, and streamed by handing the
// download's reader over (io.Copy into the relay's ReadFrom).
func relayCases(body string) []struct {
	name  string
	size  int64
	fetch func(w io.Writer) (int64, error)
} {
	return []struct {
		name  string
		size  int64
		fetch func(w io.Writer) (int64, error)
	}{
		{"spooled", 0, copyBody(body)},
		{"streamed through writes", int64(len(body)), copyBody(body)},
		{"streamed from a handed-over reader", int64(len(body)), readFromBody(body, nil)},
	}
}

func TestA429FromTheUploadURLIsRetriedFromTheSpoolAfterRetryAfter(t *testing.T) {
	body := strings.Repeat("PK zip bytes and log lines\n", 80000) // ~2 MiB
	sum := sha256.Sum256([]byte(body))
	for _, tc := range relayCases(body) {
		t.Run(tc.name, func(t *testing.T) {
			w := &waits{}
			s, fake, spool := retryUploader(t, w.sleep)
			fake.RateLimit("files.upload", 2, time.Second)
			res, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: tc.size}, tc.fetch)
			if err != nil {
				t.Fatal(err)
			}
			files := fake.Files()
			if len(files) != 1 || files[0].SHA256 != hex.EncodeToString(sum[:]) || files[0].Size != int64(len(body)) || res.FileID != files[0].ID {
				t.Errorf("Slack got %+v (result %+v), want %d bytes with GitLab's SHA-256", files, res, len(body))
			}
			uploads := fake.CallsOf("files.upload")
			if len(uploads) != 3 || uploads[0].Error != "ratelimited" || uploads[1].Error != "ratelimited" || uploads[2].Error != "" {
				t.Errorf("upload POSTs = %+v, want two 429s and the complete body", uploads)
			}
			if got := w.String(); got != "[1s 1s]" {
				t.Errorf("waits = %s, want Retry-After (1s) before each retry", got)
			}
			if n := len(fake.CallsOf("files.completeUploadExternal")); n != 1 {
				t.Errorf("completeUploadExternal called %d times, want 1", n)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

func TestAPersistent429GivesUpWithAClearError(t *testing.T) {
	body := strings.Repeat("x", 256<<10)
	for _, tc := range relayCases(body) {
		t.Run(tc.name, func(t *testing.T) {
			w := &waits{}
			s, fake, spool := retryUploader(t, w.sleep)
			fake.RateLimit("files.upload", -1, time.Second)
			_, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: tc.size}, tc.fetch)
			if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "still 429 after 4 tries") {
				t.Fatalf("err = %v, want ErrRateLimited after 4 tries", err)
			}
			if strings.Contains(err.Error(), "/upload/") {
				t.Errorf("the error shows the upload URL: %v", err)
			}
			if n := len(fake.CallsOf("files.upload")); n != 4 {
				t.Errorf("%d upload POSTs, want 4 (the first and MaxRetries=3 retries)", n)
			}
			if got := w.String(); got != "[1s 1s 1s]" {
				t.Errorf("waits = %s", got)
			}
			if n := len(fake.CallsOf("files.completeUploadExternal")); n != 0 || len(fake.Files()) != 0 {
				t.Errorf("a file was shared after giving up (%d completes)", n)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

func TestARetryAfterPastTheBoundIsNotWaitedOut(t *testing.T) {
	w := &waits{}
	s, fake, spool := retryUploader(t, w.sleep)
	fake.RateLimit("files.upload", 1, 5*time.Minute)
	body := "PK\x03\x04zip"
	_, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: int64(len(body))}, copyBody(body))
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "asks to wait 5m0s") {
		t.Fatalf("err = %v, want ErrRateLimited naming the wait", err)
	}
	if got := w.String(); got != "[]" {
		t.Errorf("waited %s for a Retry-After past the bound", got)
	}
}

// TestTheRetryWaitEndsWithTheContext uses the real sleep: the relay is
// canceled while it waits out Retry-After and returns at once with the
// context's error, uploading nothing more.
func TestTheRetryWaitEndsWithTheContext(t *testing.T) {
	s, fake, spool := retryUploader(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := fake.Subscribe(func(c slackfake.Call) {
		if c.Method == "files.upload" && c.Error == "ratelimited" {
			cancel()
		}
	})
	defer stop()
	fake.RateLimit("files.upload", 1, 30*time.Second)
	body := strings.Repeat("y", 64<<10)
	_, err := s.Relay(ctx, spool, Upload{Channel: "C1", Filename: "a.zip", Size: int64(len(body))}, copyBody(body))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(fake.CallsOf("files.upload")); n != 1 {
		t.Errorf("%d upload POSTs, want only the rate-limited one", n)
	}
}

// earlyAnswer stands in front of the Slack fake's upload URL for the first
// n POSTs: it reads only the first bytes of the body and answers 429, as a
// server that rejects before reading would; later POSTs go to the fake.
type earlyAnswer struct {
	mu        sync.Mutex
	n         int
	readFirst int64
	next      http.RoundTripper
}

func (e *earlyAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	e.mu.Lock()
	early := e.n > 0 && strings.Contains(r.URL.Path, "/upload/")
	if early {
		e.n--
	}
	e.mu.Unlock()
	if !early {
		return e.next.RoundTrip(r)
	}
	_, _ = io.CopyN(io.Discard, r.Body, e.readFirst)
	return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"0.5"}},
		Body: io.NopCloser(strings.NewReader("ratelimited")), Request: r}, nil
}

func TestA429BeforeTheBodyWasReadIsRetriedWithTheWholeBody(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 128<<10) // 2 MiB
	sum := sha256.Sum256([]byte(body))
	for _, tc := range relayCases(body)[1:] {
		t.Run(tc.name, func(t *testing.T) {
			fake := slackfake.NewServer(slackfake.Options{})
			t.Cleanup(fake.Close)
			w := &waits{}
			s := NewSlack(SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())), PerChannel: time.Millisecond, Sleep: w.sleep,
				UploadClient: &http.Client{Transport: &earlyAnswer{n: 1, readFirst: 100 << 10, next: http.DefaultTransport}}})
			spool := NewSpool(filepath.Join(t.TempDir(), "spool"))
			if _, err := spool.Clean(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: tc.size}, tc.fetch); err != nil {
				t.Fatal(err)
			}
			if f := fake.Files(); len(f) != 1 || f[0].SHA256 != hex.EncodeToString(sum[:]) || f[0].Size != int64(len(body)) {
				t.Errorf("Slack got %+v, want the whole %d bytes", f, len(body))
			}
			if got := w.String(); got != "[500ms]" {
				t.Errorf("waits = %s, want the fractional Retry-After", got)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}
