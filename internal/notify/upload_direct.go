package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Relay and Upload run Slack's external upload flow themselves instead of
// slack-go's UploadFileContext (which wraps the body in a multipart form
// through a second pipe): files.getUploadURLExternal, then one POST of the
// raw bytes to upload_url with Content-Length set, then
// files.completeUploadExternal. When the GitLab client hands its response
// body over through io.ReaderFrom, that body is the POST's body: one copy,
// no pipe, no extra goroutine.

// uploadURL asks Slack where to send size bytes (retried on 429).
func (s *Slack) uploadURL(ctx context.Context, up Upload, size int64) (*slack.GetUploadURLExternalResponse, error) {
	var resp *slack.GetUploadURLExternalResponse
	err := s.call(ctx, "files.getUploadURLExternal", func() error {
		var err error
		resp, err = s.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{
			FileName: up.Filename, FileSize: int(size),
		})
		return err
	})
	return resp, err
}

// completeUpload shares an uploaded file (retried on 429).
func (s *Slack) completeUpload(ctx context.Context, up Upload, fileID string) (string, error) {
	title := up.Title
	if title == "" {
		title = up.Filename
	}
	id := fileID
	err := s.call(ctx, "files.completeUploadExternal", func() error {
		resp, err := s.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
			Files:   []slack.FileSummary{{ID: fileID, Title: title}},
			Channel: up.Channel, ThreadTimestamp: up.ThreadTS, InitialComment: up.Comment,
		})
		if err == nil && resp != nil && len(resp.Files) > 0 {
			id = resp.Files[0].ID
		}
		return err
	})
	return id, err
}

// postUpload sends size raw bytes from body to Slack's upload URL. The URL
// is a bearer of sorts, so no error it returns mentions it.
func (s *Slack) postUpload(ctx context.Context, uploadURL string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uploadURL, body)
	if err != nil {
		return errors.New("bad upload url from slack")
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := s.upload.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post file bytes: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// Retry-After is in seconds; a fraction is taken as given.
		secs, _ := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("Retry-After")), 64)
		wait := time.Duration(min(max(secs, 0), 3600) * float64(time.Second))
		return &slack.RateLimitedError{RetryAfter: wait}
	}
	code := strings.TrimSpace(string(text))
	if code == "" || strings.ContainsAny(code, " \n<") {
		code = "upload_failed"
	}
	return slack.SlackErrorResponse{Err: code}
}

// relayStream uploads what fetch writes, up.Size bytes exactly. With a
// spool, the bytes also go to a temp file as they stream: when the upload
// URL answers 429, the download goes on into that file, and the file is
// sent again from its start after Retry-After (Slack.call's bounds).
func (s *Slack) relayStream(ctx context.Context, spool *Spool, up Upload, fetch func(w io.Writer) (int64, error)) (UploadResult, error) {
	target, err := s.uploadURL(ctx, up, up.Size)
	if err != nil {
		return UploadResult{}, err
	}
	bw := &bodyWriter{ctx: ctx, s: s, url: target.UploadURL, size: up.Size}
	var copyFile *os.File
	if spool != nil && spool.dir != "" {
		f, err := os.CreateTemp(spool.dir, spoolPattern)
		if err != nil {
			return UploadResult{}, fmt.Errorf("create spool file: %w", err)
		}
		defer func() {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}()
		copyFile, bw.copy = f, &countWriter{w: f}
	}
	n, ferr := fetch(bw)
	upErr := bw.finish()
	if bw.upFailed && copyFile != nil && isRateLimited(upErr) && ferr == nil && bw.mismatch == nil && bw.copyErr == nil {
		if got := bw.copy.n; got != up.Size || n != up.Size {
			return UploadResult{Size: got}, fmt.Errorf("%w: got %d bytes, announced %d", ErrSizeMismatch, got, up.Size)
		}
		if err := s.resend(ctx, target.UploadURL, copyFile, up.Size, upErr); err != nil {
			return UploadResult{Size: up.Size}, err
		}
		id, err := s.completeUpload(ctx, up, target.FileID)
		return UploadResult{FileID: id, Size: up.Size}, err
	}
	switch {
	case bw.copyErr != nil:
		return UploadResult{Size: bw.n}, fmt.Errorf("write spool copy: %w", bw.copyErr)
	case bw.upFailed:
		s.observed("files.upload", result(classify(upErr)))
		return UploadResult{Size: bw.n}, fmt.Errorf("slack files.upload: %w", classify(upErr))
	case ferr != nil && !errors.Is(ferr, errUploadEnded) && !errors.Is(ferr, ErrSizeMismatch):
		return UploadResult{Size: n}, ferr
	case bw.mismatch != nil:
		return UploadResult{Size: bw.n}, bw.mismatch
	case ferr != nil:
		return UploadResult{Size: n}, ferr
	case n != up.Size || bw.n != up.Size:
		return UploadResult{Size: bw.n}, fmt.Errorf("%w: got %d bytes, announced %d", ErrSizeMismatch, bw.n, up.Size)
	}
	s.observed("files.upload", "ok")
	id, err := s.completeUpload(ctx, up, target.FileID)
	if err != nil {
		return UploadResult{Size: bw.n}, err
	}
	return UploadResult{FileID: id, Size: bw.n}, nil
}

func isRateLimited(err error) bool {
	var rl *slack.RateLimitedError
	return errors.As(err, &rl)
}

// resend posts size bytes of f to the upload URL again after first, the
// 429 the streamed POST met: Slack.call waits its Retry-After and retries,
// each time from the file's start.
func (s *Slack) resend(ctx context.Context, uploadURL string, f io.ReadSeeker, size int64, first error) error {
	pending := first
	return s.call(ctx, "files.upload", func() error {
		if pending != nil {
			err := pending
			pending = nil
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind spool copy: %w", err)
		}
		return s.postUpload(ctx, uploadURL, struct{ io.Reader }{io.LimitReader(f, size)}, size)
	})
}

// bodyWriter is the writer a streamed relay hands to fetch. ReadFrom (what
// io.Copy prefers) makes the download's reader the upload's body; plain
// Writes go through a pipe to an upload goroutine started on the first one.
type bodyWriter struct {
	ctx  context.Context
	s    *Slack
	url  string
	size int64

	n        int64 // bytes the upload took
	wn       int64 // bytes fetch wrote through Write
	mismatch error // more or fewer bytes than size
	upFailed bool  // the POST failed (not the download)
	upErr    error
	used     bool // one body per upload URL
	// copy, when set, gets every byte of the body as it streams; after a
	// 429 the rest of the download goes to it alone (direct).
	copy    *countWriter
	copyErr error
	direct  bool
	// rmu is held for each read of the body (and its copy): the HTTP
	// transport may still be reading after it returned the 429, so the
	// rest goes to the copy only once stopReads has waited for that read.
	rmu     sync.Mutex
	stopped bool

	pw   *io.PipeWriter
	wg   sync.WaitGroup
	mu   sync.Mutex // guards n, mismatch in the pipe case
	done bool
}

func (b *bodyWriter) ReadFrom(r io.Reader) (int64, error) {
	if b.pw != nil || b.used {
		// Bytes already went through Write; keep to that path.
		return io.Copy(struct{ io.Writer }{b}, r)
	}
	b.used = true
	sr := &sizedReader{r: r, size: b.size, owner: b}
	err := b.s.postUpload(b.ctx, b.url, sr, b.size)
	b.done = true
	b.stopReads()
	if sr.err != nil {
		// The download failed or sent the wrong size: that is the error.
		return sr.n, sr.err
	}
	if err != nil {
		b.upFailed, b.upErr = true, err
		if b.copy != nil && isRateLimited(err) {
			// Keep downloading into the copy, which is sent again.
			return b.copyRest(sr.n, r)
		}
		return sr.n, errUploadEnded
	}
	return sr.n, nil
}

// stopReads waits for a body read in flight and makes later ones fail, so
// that the upload's reads and the copy's writes never interleave.
func (b *bodyWriter) stopReads() {
	b.rmu.Lock()
	b.stopped = true
	b.rmu.Unlock()
}

// copyRest copies what is left of the download after a 429 into the copy,
// refusing more than the announced size.
func (b *bodyWriter) copyRest(done int64, r io.Reader) (int64, error) {
	m, err := io.Copy(b.copy, io.LimitReader(r, b.size-done+1))
	total := done + m
	if err != nil {
		b.copyErr = err
		return total, err
	}
	if total > b.size {
		err := fmt.Errorf("%w: more than the announced %d bytes", ErrSizeMismatch, b.size)
		b.setMismatch(err)
		return total, err
	}
	return total, nil
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if b.direct {
		return b.writeCopy(p)
	}
	if b.done {
		return 0, errUploadEnded
	}
	if b.pw == nil {
		if b.used {
			return 0, errUploadEnded
		}
		b.used = true
		pr, pw := io.Pipe()
		b.pw = pw
		sr := &sizedReader{r: pr, size: b.size, owner: b}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			err := b.s.postUpload(b.ctx, b.url, sr, b.size)
			if err != nil && sr.failed() == nil {
				b.mu.Lock()
				b.upFailed, b.upErr = true, err
				b.mu.Unlock()
			}
			_ = pr.CloseWithError(errUploadEnded)
		}()
	}
	if b.wn+int64(len(p)) > b.size {
		err := fmt.Errorf("%w: more than the announced %d bytes", ErrSizeMismatch, b.size)
		b.setMismatch(err)
		_ = b.pw.CloseWithError(err)
		return 0, err
	}
	n, err := b.pw.Write(p)
	b.wn += int64(n)
	if err != nil && b.copy != nil {
		b.mu.Lock()
		limited := b.upFailed && isRateLimited(b.upErr)
		b.mu.Unlock()
		if limited {
			// The upload met a 429 and read no further: what it read is in
			// the copy; the rest of p and of the download go there alone.
			b.direct = true
			b.stopReads()
			m, err := b.writeCopy(p[n:])
			return n + m, err
		}
	}
	return n, err
}

func (b *bodyWriter) writeCopy(p []byte) (int, error) {
	if b.wn+int64(len(p)) > b.size {
		err := fmt.Errorf("%w: more than the announced %d bytes", ErrSizeMismatch, b.size)
		b.setMismatch(err)
		return 0, err
	}
	n, err := b.copy.Write(p)
	b.wn += int64(n)
	if err != nil {
		b.copyErr = err
	}
	return n, err
}

func (b *bodyWriter) setMismatch(err error) {
	b.mu.Lock()
	if b.mismatch == nil {
		b.mismatch = err
	}
	b.mu.Unlock()
}

// finish ends a pipe upload (end of file only if every byte arrived) and
// returns the upload's error.
func (b *bodyWriter) finish() error {
	if b.pw != nil {
		if b.wn < b.size {
			err := fmt.Errorf("%w: got %d bytes, announced %d", ErrSizeMismatch, b.wn, b.size)
			b.setMismatch(err)
			_ = b.pw.CloseWithError(err)
		} else {
			_ = b.pw.Close()
		}
		b.wg.Wait()
	}
	b.done = true
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.used && b.mismatch == nil {
		b.mismatch = fmt.Errorf("%w: got no bytes, announced %d", ErrSizeMismatch, b.size)
	}
	return b.upErr
}

// sizedReader gives the upload exactly size bytes and makes sure the
// download has ended there before it hands over the last of them, so the
// upload is never complete with a body of another size. A download error
// or a size mismatch fails the POST, which then never completes.
type sizedReader struct {
	r     io.Reader
	size  int64
	n     int64
	err   error
	owner *bodyWriter
	probe [1]byte
}

func (s *sizedReader) Read(p []byte) (int, error) {
	s.owner.rmu.Lock()
	defer s.owner.rmu.Unlock()
	if s.owner.stopped {
		return 0, errUploadEnded
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.n >= s.size {
		return 0, io.EOF
	}
	if rest := s.size - s.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	if n > 0 && s.owner.copy != nil {
		if _, werr := s.owner.copy.Write(p[:n]); werr != nil {
			s.owner.copyErr = werr
			s.err = werr
			return 0, werr
		}
	}
	s.n += int64(n)
	s.owner.mu.Lock()
	s.owner.n = s.n
	s.owner.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
		return n, err
	}
	if errors.Is(err, io.EOF) && s.n < s.size {
		return n, s.fail(fmt.Errorf("%w: got %d bytes, announced %d", ErrSizeMismatch, s.n, s.size))
	}
	if s.n == s.size {
		// Hold the last bytes until the download says it is done.
		for {
			m, err := s.r.Read(s.probe[:])
			if m > 0 {
				return n, s.fail(fmt.Errorf("%w: more than the announced %d bytes", ErrSizeMismatch, s.size))
			}
			if errors.Is(err, io.EOF) {
				return n, io.EOF
			}
			if err != nil {
				s.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// failed is the reader's error once a read in flight has ended.
func (s *sizedReader) failed() error {
	s.owner.rmu.Lock()
	defer s.owner.rmu.Unlock()
	return s.err
}

func (s *sizedReader) fail(err error) error {
	s.err = err
	s.owner.setMismatch(err)
	return err
}
