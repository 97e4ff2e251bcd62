package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrBadArtifactPath is returned, before any request, for an artifact path
// that could escape the archive or confuse the URL: empty, absolute, with a
// ".." segment, a backslash or a NUL byte.
var ErrBadArtifactPath = errors.New("gitlab: invalid artifact path")

// CheckArtifactPath reports whether p is a plain relative path inside an
// artifacts archive ("build/app.txt"). It is what pipebot accepts from a
// user's path: option before asking GitLab.
func CheckArtifactPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrBadArtifactPath)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("%w: contains a NUL byte", ErrBadArtifactPath)
	case strings.Contains(p, `\`):
		return fmt.Errorf("%w: contains a backslash", ErrBadArtifactPath)
	case strings.HasPrefix(p, "/"), len(p) >= 2 && p[1] == ':':
		return fmt.Errorf("%w: absolute", ErrBadArtifactPath)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("%w: contains ..", ErrBadArtifactPath)
		}
	}
	return nil
}

// escapeArtifactPath escapes each segment of p for a URL path, keeping the
// slashes GitLab's *artifact_path route expects.
func escapeArtifactPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// JobArtifactFile streams one file of a job's artifacts archive to w
// (GET /projects/:id/jobs/:job_id/artifacts/*artifact_path), with the same
// ceiling and redirect rules as JobArtifacts.
func (c *Client) JobArtifactFile(ctx context.Context, project string, id int64, path string, w io.Writer, max int64) (int64, error) {
	if err := CheckArtifactPath(path); err != nil {
		return 0, fmt.Errorf("download artifact file of job %d in %s: %w", id, project, err)
	}
	n, err := c.stream(ctx, project, id, "/artifacts/"+escapeArtifactPath(path), w, max)
	if err != nil {
		return n, fmt.Errorf("download artifact file of job %d in %s: %w", id, project, err)
	}
	return n, nil
}

type refArtifactsQuery struct {
	Job string `url:"job"`
}

// RefArtifacts streams the artifacts archive of the latest successful job
// named job on ref (GET /projects/:id/jobs/artifacts/:ref_name/download?job=),
// or with path set one file of it (.../:ref_name/raw/*artifact_path?job=).
func (c *Client) RefArtifacts(ctx context.Context, project, ref, job, path string, w io.Writer, max int64) (int64, error) {
	pp, err := projectPath(project)
	if err == nil && (strings.TrimSpace(ref) == "" || strings.TrimSpace(job) == "") {
		err = errors.New("ref and job name are required")
	}
	if err == nil && path != "" {
		err = CheckArtifactPath(path)
	}
	if err != nil {
		return 0, fmt.Errorf("download artifacts of %s on %s: %w", job, ref, err)
	}
	p := "projects/" + pp + "/jobs/artifacts/" + url.PathEscape(ref)
	if path == "" {
		p += "/download"
	} else {
		p += "/raw/" + escapeArtifactPath(path)
	}
	n, err := c.streamPath(ctx, p, &refArtifactsQuery{Job: job}, w, max)
	if err != nil {
		return n, fmt.Errorf("download artifacts of %s on %s in %s: %w", job, ref, project, err)
	}
	return n, nil
}

// streamPath is stream for any API path with an optional query.
func (c *Client) streamPath(ctx context.Context, path string, query any, w io.Writer, max int64) (int64, error) {
	// Canceling on overflow makes client-go's deferred drain of the body
	// fail fast instead of reading a huge artifact to the end.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lw := &limitWriter{w: w, max: max, cancel: cancel}
	_, err := c.do(sctx, request{method: http.MethodGet, path: path, opt: query, out: lw, stream: true})
	switch {
	case lw.exceeded:
		return lw.n, ErrTooLarge
	case lw.werr != nil:
		return lw.n, fmt.Errorf("write body: %w", lw.werr)
	case err != nil:
		return lw.n, err
	}
	return lw.n, nil
}
