package simulator

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Job logs and artifacts of any size are generated while they are sent,
// never held in memory, so tests can push hundreds of megabytes through
// pipebot and measure that it stays flat.

// archive is a job's artifacts: a zip built on the fly from its files.
type archive struct {
	files    []artFile
	modified time.Time
	size     int64 // bytes of the whole zip
}

// artFile is one file of an archive: small ones hold their body, big ones
// are generated from a seed.
type artFile struct {
	name string
	body []byte
	gen  int64 // size of the generated body when body is nil
	seed uint64
}

// PayloadName is the generated file of a job with JobSpec.ArtifactBytes.
const PayloadName = "payload.bin"

func (f artFile) size() int64 {
	if f.body != nil {
		return int64(len(f.body))
	}
	return f.gen
}

func (f artFile) open() io.Reader {
	if f.body != nil {
		return bytes.NewReader(f.body)
	}
	return io.LimitReader(newPatternReader(f.seed), f.gen)
}

// writeTo writes the zip. Generated files are stored (not deflated) so the
// archive's size is what the test asked for, plus the zip headers.
func (a *archive) writeTo(w io.Writer) error {
	zw := zip.NewWriter(w)
	for _, f := range a.files {
		method := zip.Deflate
		if f.body == nil {
			method = zip.Store
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: method, Modified: a.modified})
		if err != nil {
			return err
		}
		if _, err := io.Copy(fw, f.open()); err != nil {
			return err
		}
	}
	return zw.Close()
}

func (a *archive) file(name string) (artFile, bool) {
	for _, f := range a.files {
		if f.name == name {
			return f, true
		}
	}
	return artFile{}, false
}

// newArchive builds a job's artifacts and measures the zip once (by writing
// it to a counter) so that the job's JSON can report its size.
func newArchive(j *job, at time.Time) *archive {
	a := &archive{modified: at, files: []artFile{
		{name: "README.txt", body: fmt.Appendf(nil, "artifacts of job %s (#%d) on %s\n", j.spec.Name, j.id, j.pipeline.ref)},
		{name: "build/" + j.spec.Name + ".txt", body: fmt.Appendf(nil, "pipeline %d\nsha %s\nstatus success\n", j.pipeline.id, j.pipeline.sha)},
	}}
	if j.spec.ArtifactBytes > 0 {
		a.files = append(a.files, artFile{name: PayloadName, gen: j.spec.ArtifactBytes, seed: uint64(j.id)})
	}
	var c countWriter
	if err := a.writeTo(&c); err != nil {
		return nil
	}
	a.size = c.n
	return a
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// patternReader repeats a 64 KiB block of seeded pseudo-random bytes: cheap
// to produce at memory speed, incompressible enough, and deterministic.
type patternReader struct {
	block []byte
	off   int
}

func newPatternReader(seed uint64) *patternReader {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	block := make([]byte, 64<<10)
	for i := 0; i < len(block); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			block[i+k] = byte(v >> (8 * k))
		}
	}
	return &patternReader{block: block}
}

func (p *patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	return n, nil
}

// hostileChunk is a run of log lines with everything that makes job logs
// hard to show in Slack: ANSI colors and erase codes, collapsible section
// markers, \r progress overwrites, invalid UTF-8, Slack markup and mentions,
// and code fences that try to close pipebot's code block.
func hostileChunk(ts int64) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 60<<10; i++ {
		fmt.Fprintf(&b, "section_start:%d:step_%d\r%s%sStep %d <!channel> & <@U0BOSS>%s\n", ts, i, ansiClear, ansiCyan, i, ansiReset)
		b.WriteString("progress 10%\rprogress 55%\rprogress 100% done\n")
		b.WriteString(ansiRed + "error: *bold* _it_ ~strike~ <https://evil.example|click me> &amp; " + ansiReset + "\n")
		b.WriteString("bytes \xff\xfe\xc3 invalid utf-8\n")
		b.WriteString("```\nbreakout ``` attempt `inline`\n")
		fmt.Fprintf(&b, "section_end:%d:step_%d\r%s\n", ts, i, ansiClear)
	}
	return b.Bytes()
}

// bigLogTail ends every generated log, so tests know its last lines.
func bigLogTail(status string) string {
	switch status {
	case StatusSuccess:
		return ansiGreen + "Job succeeded" + ansiReset + "\n"
	case StatusFailed:
		return "--- FAIL: TestBig (0.01s)\n" + ansiRed + "ERROR: Job failed: exit code 1" + ansiReset + "\n"
	}
	return "still running…\n"
}

// writeBigLog writes exactly size bytes of hostile log ending with the
// status's tail.
func writeBigLog(w io.Writer, size int64, ts int64, status string) error {
	head := "Running with gitlab-runner 17.5.0 (simulator)\n"
	tail := bigLogTail(status)
	chunk := hostileChunk(ts)
	body := size - int64(len(head)) - int64(len(tail))
	if body < 0 {
		_, err := io.WriteString(w, (head + tail)[:size])
		return err
	}
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	for body > int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		body -= int64(len(chunk))
	}
	// Pad with one line of dots so the tail starts a line of its own.
	if body > 0 {
		pad := bytes.Repeat([]byte("."), int(body))
		pad[len(pad)-1] = '\n'
		if _, err := w.Write(pad); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, tail)
	return err
}

// bigLog reports whether the job's log is generated at JobSpec.LogBytes.
func (j *job) bigLog() bool {
	return j.log == nil && j.spec.LogBytes > 0 && j.startedAt != nil
}

func (j *job) logSize() int64 {
	if j.bigLog() {
		return j.spec.LogBytes
	}
	return int64(len(jobLog(j)))
}

// later runs fn once the server lock is released: big bodies stream
// without blocking other requests.
func later(w http.ResponseWriter, fn func(w http.ResponseWriter)) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.after = func() { fn(rec) }
		return
	}
	fn(w)
}

// serveTrace answers GET .../jobs/:id/trace.
func serveTrace(w http.ResponseWriter, j *job) {
	if !j.bigLog() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, jobLog(j))
		return
	}
	size, ts, status := j.spec.LogBytes, j.startedAt.Unix(), j.status
	later(w, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_ = writeBigLog(w, size, ts, status)
	})
}

// RedirectArtifacts makes artifact downloads answer 302 to object storage
// at baseURL (a second server running ObjectStorage), as GitLab does with
// remote object storage; "" serves them directly again.
func (s *Server) RedirectArtifacts(baseURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storageURL = strings.TrimRight(baseURL, "/")
	if s.storageKey == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s.storageKey = hex.EncodeToString(b)
	}
}

// StorageRequest is one request object storage received.
type StorageRequest struct {
	Path string
	// Credentials lists the credential headers it carried (PRIVATE-TOKEN,
	// Authorization, JOB-TOKEN, Cookie); GitLab's token must never be here.
	Credentials []string
	Status      int
}

// StorageRequests returns what ObjectStorage received.
func (s *Server) StorageRequests() []StorageRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StorageRequest(nil), s.storageReqs...)
}

// serveArchive answers an archive download, or redirects it to storage.
func (s *Server) serveArchive(w http.ResponseWriter, r *http.Request, j *job) *apiError {
	if j.artifacts == nil {
		return errFileNotFound
	}
	if s.storageURL != "" {
		s.redirectToStorage(w, r, j, "")
		return nil
	}
	a := j.artifacts
	later(w, func(w http.ResponseWriter) { writeArchive(w, a) })
	return nil
}

func writeArchive(w http.ResponseWriter, a *archive) {
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "artifacts.zip"}))
	w.Header().Set("Content-Length", strconv.FormatInt(a.size, 10))
	w.WriteHeader(http.StatusOK)
	_ = a.writeTo(w)
}

// serveArtifactFile answers one file of the archive, or redirects it.
func (s *Server) serveArtifactFile(w http.ResponseWriter, r *http.Request, j *job, name string) *apiError {
	if j.artifacts == nil {
		return errFileNotFound
	}
	f, ok := j.artifacts.file(name)
	if !ok {
		return errFileNotFound
	}
	if s.storageURL != "" {
		s.redirectToStorage(w, r, j, name)
		return nil
	}
	later(w, func(w http.ResponseWriter) { writeFile(w, f) })
	return nil
}

func writeFile(w http.ResponseWriter, f artFile) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.size(), 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f.open())
}

func (s *Server) redirectToStorage(w http.ResponseWriter, r *http.Request, j *job, file string) {
	q := url.Values{"X-Amz-Signature": {s.storageKey}}
	if file != "" {
		q.Set("file", file)
	}
	http.Redirect(w, r, fmt.Sprintf("%s/objects/%d?%s", s.storageURL, j.id, q.Encode()), http.StatusFound)
}

// ObjectStorage is the second host artifact downloads redirect to: it
// serves pre-signed links only and records the credentials each request
// carried.
func (s *Server) ObjectStorage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		var creds []string
		for _, h := range []string{"Private-Token", "Authorization", "Job-Token", "Cookie"} {
			if r.Header.Get(h) != "" {
				creds = append(creds, h)
			}
		}
		defer func() {
			s.mu.Lock()
			s.storageReqs = append(s.storageReqs, StorageRequest{Path: r.URL.Path, Credentials: creds, Status: rec.status})
			s.mu.Unlock()
		}()
		s.mu.Lock()
		id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/objects/"), 10, 64)
		j := s.jobs[id]
		valid := err == nil && j != nil && j.artifacts != nil && s.storageKey != "" && r.URL.Query().Get("X-Amz-Signature") == s.storageKey
		var a *archive
		if valid {
			a = j.artifacts
		}
		s.mu.Unlock()
		if !valid {
			http.Error(rec, "AccessDenied", http.StatusForbidden)
			return
		}
		if name := r.URL.Query().Get("file"); name != "" {
			f, ok := a.file(name)
			if !ok {
				http.Error(rec, "NoSuchKey", http.StatusNotFound)
				return
			}
			writeFile(rec, f)
			return
		}
		writeArchive(rec, a)
	})
}

// JobVariables returns the variables a job was played with (GitLab shows
// them on the job page only, not in the job API).
func (s *Server) JobVariables(projectID, jobID int64) []Variable {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[jobID]
	if !ok || j.pipeline.project.ID != projectID {
		return nil
	}
	return append([]Variable(nil), j.variables...)
}
