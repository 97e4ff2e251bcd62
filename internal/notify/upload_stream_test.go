package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRelayWithAKnownSizeStreamsAndNeverSharesAWrongSize covers the
// streaming path: bytes go GitLab → Slack without a spool file, and a body
// shorter or longer than announced is never completed as a file.
func TestRelayWithAKnownSizeStreamsAndNeverSharesAWrongSize(t *testing.T) {
	errGitLab := errors.New("gitlab went away")
	body := strings.Repeat("PK zip bytes\n", 50000)
	size := int64(len(body))
	tests := []struct {
		name     string
		announce int64
		fetch    func(w io.Writer) (int64, error)
		disable  bool
		wantErr  error
	}{
		{"uploads exactly the announced bytes", size, copyBody(body), false, nil},
		{"a shorter body fails", size + 1, copyBody(body), false, ErrSizeMismatch},
		{"a longer body fails", size - 1, copyBody(body), false, ErrSizeMismatch},
		{"a fetch that lies about its count fails", size, func(w io.Writer) (int64, error) {
			n, err := io.WriteString(w, body[:len(body)/2])
			return int64(n) * 2, err
		}, false, ErrSizeMismatch},
		{"a fetch failure midway uploads nothing", size, func(w io.Writer) (int64, error) {
			n, _ := io.WriteString(w, body[:len(body)/2])
			return int64(n), errGitLab
		}, false, errGitLab},
		{"a refused upload stops the download", size, copyBody(body), true, ErrUploadsRefused},
		// io.Copy into the relay's writer hands it the reader itself (what
		// the GitLab client does): the reader becomes the upload's body.
		{"a handed-over reader uploads exactly the announced bytes", size, readFromBody(body, nil), false, nil},
		{"a handed-over reader that is shorter fails", size + 1, readFromBody(body, nil), false, ErrSizeMismatch},
		{"a handed-over reader that is longer fails", size - 1, readFromBody(body, nil), false, ErrSizeMismatch},
		{"a handed-over reader failing midway uploads nothing", size, readFromBody(body[:len(body)/2], errGitLab), false, errGitLab},
		{"a refused upload of a handed-over reader is classified", size, readFromBody(body, nil), true, ErrUploadsRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake, spool := newUploader(t)
			if tt.disable {
				fake.DisableFiles()
			}
			// The spool holds only the copy a 429 would be retried from:
			// the upload starts with the download, not after it.
			staged := 0
			fetch := func(w io.Writer) (int64, error) {
				staged = len(spoolFiles(t, spool))
				return tt.fetch(w)
			}
			res, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: tt.announce}, fetch)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "/upload/") {
				t.Errorf("the error shows the upload URL: %v", err)
			}
			if staged > 1 {
				t.Errorf("%d spool files while streaming, want at most the retry copy", staged)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
			completed := fake.CallsOf("files.completeUploadExternal")
			if tt.wantErr != nil {
				if len(completed) != 0 {
					t.Errorf("a failed relay was shared: %+v", completed)
				}
				return
			}
			sum := sha256.Sum256([]byte(body))
			files := fake.Files()
			if len(completed) != 1 || len(files) != 1 || files[0].SHA256 != hex.EncodeToString(sum[:]) || files[0].ID != res.FileID || res.Size != size {
				t.Errorf("files = %+v, result %+v", files, res)
			}
		})
	}
}

func TestStreamedRelayRetriesARateLimitBeforeTheBody(t *testing.T) {
	s, fake, spool := newUploader(t)
	fake.RateLimit("files.getUploadURLExternal", 1, time.Millisecond)
	body := "PK\x03\x04zip"
	if _, err := s.Relay(context.Background(), spool, Upload{Channel: "C1", Filename: "a.zip", Size: int64(len(body))}, copyBody(body)); err != nil {
		t.Fatal(err)
	}
	if f := fake.Files(); len(f) != 1 || f[0].Size != int64(len(body)) {
		t.Errorf("files = %+v", f)
	}
}

func TestStreamedRelayWithoutASpoolDoesNotRetryOnceTheBodyWasRead(t *testing.T) {
	s, fake, _ := newUploader(t)
	fake.RateLimit("files.upload", 1, time.Millisecond)
	body := strings.Repeat("x", 1<<20)
	_, err := s.Relay(context.Background(), nil, Upload{Channel: "C1", Filename: "a.zip", Size: int64(len(body))}, copyBody(body))
	if err == nil {
		t.Fatal("a rate-limited streamed upload succeeded without its body")
	}
	if n := len(fake.CallsOf("files.completeUploadExternal")); n != 0 {
		t.Errorf("completeUploadExternal called %d times", n)
	}
}

// readFromBody is a fetch that io.Copies body, then fails with tail if set,
// from a reader without WriterTo, so the relay's ReadFrom gets the reader.
func readFromBody(body string, tail error) func(w io.Writer) (int64, error) {
	return func(w io.Writer) (int64, error) {
		var r io.Reader = strings.NewReader(body)
		if tail != nil {
			r = io.MultiReader(r, &failReader{tail})
		}
		return io.Copy(w, struct{ io.Reader }{r})
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }
