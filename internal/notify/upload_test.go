package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/slackapp/slackfake"
)

func newUploader(t *testing.T) (*Slack, *slackfake.Server, *Spool) {
	t.Helper()
	fake := slackfake.NewServer(slackfake.Options{})
	t.Cleanup(fake.Close)
	s := NewSlack(SlackConfig{API: slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())), PerChannel: time.Millisecond})
	spool := NewSpool(filepath.Join(t.TempDir(), "spool"))
	if _, err := spool.Clean(); err != nil {
		t.Fatal(err)
	}
	return s, fake, spool
}

func spoolFiles(t *testing.T, sp *Spool) []string {
	t.Helper()
	entries, err := os.ReadDir(sp.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRelayUploadsWhatWasFetchedAndRemovesTheSpoolFile(t *testing.T) {
	errGitLab := errors.New("gitlab went away")
	tests := []struct {
		name    string
		body    string
		fetch   func(body string) func(w io.Writer) (int64, error)
		disable bool
		wantErr error
	}{
		{"uploads the bytes", strings.Repeat("log line\n", 10000), copyBody, false, nil},
		{"fetch failure uploads nothing", "partial", func(body string) func(w io.Writer) (int64, error) {
			return func(w io.Writer) (int64, error) {
				n, _ := io.WriteString(w, body)
				return int64(n), errGitLab
			}
		}, false, errGitLab},
		{"an empty body is not uploaded", "", copyBody, false, ErrEmptyFile},
		{"workspace refuses uploads", "x", copyBody, true, ErrUploadsRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake, spool := newUploader(t)
			if tt.disable {
				fake.DisableFiles()
			}
			res, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "job.log", Title: "log"}, tt.fetch(tt.body))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
			files := fake.Files()
			if tt.wantErr != nil {
				if len(files) != 0 {
					t.Errorf("files uploaded: %+v", files)
				}
				return
			}
			sum := sha256.Sum256([]byte(tt.body))
			if len(files) != 1 || files[0].SHA256 != hex.EncodeToString(sum[:]) || files[0].ID != res.FileID || res.Size != int64(len(tt.body)) {
				t.Errorf("files = %+v, result %+v", files, res)
			}
		})
	}
}

func copyBody(body string) func(w io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, body)
		return int64(n), err
	}
}

func TestSpoolCleanRemovesLeftoversOfACrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upload-123", "upload-456", "keep.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sp := NewSpool(dir)
	n, err := sp.Clean()
	if err != nil || n != 2 {
		t.Fatalf("Clean = %d, %v; want 2 removed", n, err)
	}
	if left := spoolFiles(t, sp); strings.Join(left, ",") != "keep.txt" {
		t.Errorf("left = %v; only pipebot's upload files should go", left)
	}
}

func TestUploadGoesIntoTheThreadAndRetriesAfter429(t *testing.T) {
	s, fake, spool := newUploader(t)
	ts, err := s.Post(context.Background(), "C1", Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	fake.RateLimit("files.getUploadURLExternal", 1, time.Millisecond)
	_, err = s.Relay(context.Background(), spool, Upload{Channel: "C1", ThreadTS: ts, Filename: "a.zip"}, copyBody("PK\x03\x04zip"))
	if err != nil {
		t.Fatal(err)
	}
	files := fake.Files()
	if len(files) != 1 || files[0].ThreadTS != ts || files[0].Size != 7 {
		t.Errorf("files = %+v, want one in thread %s", files, ts)
	}
	if n := len(fake.CallsOf("files.getUploadURLExternal")); n != 2 {
		t.Errorf("getUploadURLExternal called %d times, want 2 (429, then ok)", n)
	}
}
