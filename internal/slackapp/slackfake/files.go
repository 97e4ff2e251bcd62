package slackfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// maxUploadSize is Slack's file size limit (1 GB).
const maxUploadSize = 1 << 30

// uploadChunk is all of an upload the fake holds in memory at once.
const uploadChunk = 32 << 10

// errFilesDisabled is what DisableFiles makes the upload methods answer: an
// app installed without files:write.
func errFilesDisabled() *slackError {
	return &slackError{code: "missing_scope", fields: map[string]any{
		"needed":   "files:write",
		"provided": "chat:write,commands",
	}}
}

func (s *Server) getUploadURL(req *apiRequest, c *Call) (map[string]any, *slackError) {
	if s.filesOff {
		return nil, errFilesDisabled()
	}
	name := req.str("filename")
	if name == "" {
		return nil, failWith("invalid_arguments", "[ERROR] missing required field: filename")
	}
	length, err := strconv.ParseInt(req.str("length"), 10, 64)
	if err != nil || length < 1 {
		return nil, failWith("invalid_arguments", "[ERROR] length must be a positive integer")
	}
	if length > maxUploadSize {
		return nil, fail("file_too_large")
	}
	s.seq++
	id := fmt.Sprintf("F%07d", s.seq)
	s.files[id] = &storedFile{File: File{ID: id, Name: name, Title: name}, length: length}
	s.fileOrder = append(s.fileOrder, id)
	c.File = &File{ID: id, Name: name, Title: name}
	return map[string]any{"upload_url": s.baseURL + "/upload/" + id, "file_id": id}, nil
}

// serveUpload is the upload URL: it hashes the file as it streams in
// (multipart "file" part, as slack-go sends it, or a raw body) and keeps
// only its size and SHA-256. No lock is held while the body streams.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	f := s.files[id]
	valid := f != nil && !f.uploaded
	after, limited := s.takeRateLimit("files.upload")
	code := ""
	switch {
	case limited:
		code = "ratelimited"
	case s.filesOff:
		code = "missing_scope"
	case !valid:
		code = "file_not_found"
	default:
		code = s.takeFailure("files.upload")
	}
	name := ""
	if f != nil {
		name = f.Name
	}
	s.mu.Unlock()

	var size int64
	var sum string
	if code == "" {
		var err error
		size, sum, err = hashUpload(r)
		if err != nil {
			code = "upload_failed"
		}
	}
	// Drain what is left so the client sees the answer, not a reset.
	_, _ = io.Copy(io.Discard, r.Body)

	c := Call{Method: "files.upload", Error: code, File: &File{ID: id, Name: name, Size: size, SHA256: sum}}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.mu.Lock()
	if code == "" {
		// Reset may have dropped the file while it streamed.
		if f := s.files[id]; f != nil {
			f.Size, f.SHA256, f.uploaded = size, sum, true
			file := f.File
			c.File = &file
		}
	}
	subs := s.recordLocked(c)
	s.mu.Unlock()

	// The upload URL is not a Web API method: slack-go checks only the HTTP
	// status, so failures must be HTTP errors, not ok:false.
	switch code {
	case "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "OK - %d", size)
	case "ratelimited":
		w.Header().Set("Retry-After", retryAfterHeader(after))
		http.Error(w, code, http.StatusTooManyRequests)
	case "file_not_found":
		http.Error(w, code, http.StatusNotFound)
	case "missing_scope":
		http.Error(w, code, http.StatusForbidden)
	default:
		http.Error(w, code, http.StatusInternalServerError)
	}
	for _, fn := range subs {
		fn(c)
	}
}

func hashUpload(r *http.Request) (int64, string, error) {
	h := sha256.New()
	buf := make([]byte, uploadChunk)
	ctype, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype != "multipart/form-data" {
		n, err := io.CopyBuffer(h, r.Body, buf)
		if err != nil {
			return 0, "", fmt.Errorf("read upload: %w", err)
		}
		return n, hex.EncodeToString(h.Sum(nil)), nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return 0, "", errors.New("upload has no file part")
		}
		if err != nil {
			return 0, "", fmt.Errorf("read upload part: %w", err)
		}
		if part.FormName() != "file" && part.FileName() == "" {
			continue
		}
		// Hide WriterTo so CopyBuffer really uses the small buffer.
		n, err := io.CopyBuffer(h, struct{ io.Reader }{part}, buf)
		if err != nil {
			return 0, "", fmt.Errorf("read upload file: %w", err)
		}
		return n, hex.EncodeToString(h.Sum(nil)), nil
	}
}

func (s *Server) completeUpload(req *apiRequest, c *Call) (map[string]any, *slackError) {
	if s.filesOff {
		return nil, errFilesDisabled()
	}
	var list []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(req.str("files")), &list); err != nil || len(list) == 0 {
		return nil, failWith("invalid_arguments", "[ERROR] files must be a non-empty array")
	}
	var files []*storedFile
	for _, item := range list {
		f := s.files[item.ID]
		if f == nil || !f.uploaded {
			return nil, fail("file_not_found")
		}
		if item.Title != "" {
			f.Title = item.Title
		}
		files = append(files, f)
	}
	ch := req.str("channel_id")
	if ch == "" {
		ch, _, _ = strings.Cut(req.str("channels"), ",")
	}
	if ch != "" && s.notIn[ch] {
		return nil, fail("not_in_channel")
	}
	ct, e := readContent(req)
	if e != nil {
		return nil, e
	}
	comment := req.str("initial_comment")
	c.Channel, c.Text = ch, comment
	resp := make([]map[string]any, 0, len(files))
	ids := make([]string, 0, len(files))
	thread := ""
	if ch != "" {
		thread = s.threadRoot(ch, req.str("thread_ts"))
	}
	for _, f := range files {
		f.shared = ch != ""
		f.Channel, f.ThreadTS = ch, thread
		ids = append(ids, f.ID)
		resp = append(resp, map[string]any{"id": f.ID, "title": f.Title})
	}
	if ch != "" {
		// Slack shares the files as a message from the bot.
		m := s.post(Message{Channel: ch, ThreadTS: thread, User: s.opts.BotUserID, Text: comment, Blocks: ct.blocks, FileIDs: ids})
		c.TS = m.TS
	}
	first := files[0].File
	c.File = &first
	return map[string]any{"files": resp}, nil
}
