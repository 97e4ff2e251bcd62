package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Errors an upload can end with, besides Slack's and GitLab's own.
var (
	// ErrUploadsRefused: the workspace or the app's scopes do not allow file
	// uploads (files:write missing, uploads disabled by an admin).
	ErrUploadsRefused = errors.New("slack refused the file upload")
	// ErrEmptyFile: there was nothing to upload (Slack rejects empty files).
	ErrEmptyFile = errors.New("nothing to upload")
	// ErrSizeMismatch: GitLab sent more or fewer bytes than announced; the
	// upload is abandoned before files.completeUploadExternal, so nothing
	// truncated is shared.
	ErrSizeMismatch = errors.New("download size differs from the announced size")
	// errUploadEnded stops a streaming fetch whose upload has given up.
	errUploadEnded = errors.New("upload ended before the download")
)

// spoolPattern names spool files so that Clean removes only pipebot's.
const spoolPattern = "upload-*"

// Spool is the directory where downloads wait for their upload: Slack's
// files.getUploadURLExternal needs the size before the first byte, and
// GitLab streams logs without announcing one.
type Spool struct{ dir string }

// NewSpool returns a spool in dir. It does no I/O.
func NewSpool(dir string) *Spool { return &Spool{dir: dir} }

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Clean creates the directory if needed and removes files a crashed
// process left behind. Run it once at start, before any upload.
func (s *Spool) Clean() (removed int, err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return 0, fmt.Errorf("create spool dir: %w", err)
	}
	leftovers, err := filepath.Glob(filepath.Join(s.dir, spoolPattern))
	if err != nil {
		return 0, fmt.Errorf("list spool dir: %w", err)
	}
	for _, f := range leftovers {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("remove spool leftover: %w", err)
		}
		removed++
	}
	return removed, nil
}

// Upload names a file pipebot shares in a channel, or in a thread when
// ThreadTS is set.
type Upload struct {
	Channel, ThreadTS string
	Filename, Title   string
	Comment           string // initial_comment, mrkdwn
	// Size is the byte count fetch will write when known up front (the
	// job's artifact size from the API). Relay then streams GitLab → Slack
	// without a spool file; 0 means unknown and spools.
	Size int64
}

// UploadResult is what Relay delivered.
type UploadResult struct {
	FileID string
	Size   int64
}

// Relay uploads to Slack what fetch writes (at most max bytes; fetch
// enforces it and returns its own error past it). With up.Size known it
// streams: fetch writes into a pipe the upload reads from, concurrently, and
// the upload sees end of file only once fetch has returned exactly up.Size
// bytes; a copy goes into a spool file as it streams, so that a 429 from
// the upload URL is retried from that file. Otherwise it spools into a
// temp file first, because Slack needs the size before the first byte,
// then uploads the file from disk. Memory stays flat whatever the size;
// the temp file is removed whatever happens.
func (s *Slack) Relay(ctx context.Context, spool *Spool, up Upload, fetch func(w io.Writer) (int64, error)) (UploadResult, error) {
	if up.Size > 0 {
		return s.relayStream(ctx, spool, up, fetch)
	}
	if spool == nil || spool.dir == "" {
		return UploadResult{}, errors.New("no spool directory configured")
	}
	f, err := os.CreateTemp(spool.dir, spoolPattern)
	if err != nil {
		return UploadResult{}, fmt.Errorf("create spool file: %w", err)
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	n, err := fetch(f)
	if err != nil {
		return UploadResult{Size: n}, err
	}
	if n == 0 {
		return UploadResult{}, ErrEmptyFile
	}
	id, err := s.Upload(ctx, up, f, n)
	return UploadResult{FileID: id, Size: n}, err
}

// Upload streams size bytes from r to Slack (files.getUploadURLExternal,
// a raw-bytes POST to the upload URL, files.completeUploadExternal) and
// shares the file. r is rewound first and on each retry after a 429.
func (s *Slack) Upload(ctx context.Context, up Upload, r io.ReadSeeker, size int64) (string, error) {
	if size <= 0 {
		return "", ErrEmptyFile
	}
	target, err := s.uploadURL(ctx, up, size)
	if err != nil {
		return "", err
	}
	err = s.call(ctx, "files.upload", func() error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind upload: %w", err)
		}
		// Hide WriterTo/Seek: the transport must see a plain reader.
		return s.postUpload(ctx, target.UploadURL, struct{ io.Reader }{io.LimitReader(r, size)}, size)
	})
	if err != nil {
		return "", err
	}
	return s.completeUpload(ctx, up, target.FileID)
}

// uploadRefused reports Slack error codes meaning "no uploads here".
func uploadRefused(code string) bool {
	switch code {
	case "missing_scope", "not_allowed_token_type", "file_uploads_disabled", "file_uploads_except_images_disabled", "restricted_action":
		return true
	}
	return strings.HasPrefix(code, "file_uploads_")
}
