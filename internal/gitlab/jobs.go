package gitlab

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

type jobsQuery struct {
	Scope          []string `url:"scope[],omitempty"`
	IncludeRetried bool     `url:"include_retried,omitempty"`
	PerPage        int      `url:"per_page,omitempty"`
	Page           int      `url:"page,omitempty"`
}

// PipelineJobs lists the jobs of a pipeline (not its bridges), following
// pages up to opt.Limit (default 100).
func (c *Client) PipelineJobs(ctx context.Context, project string, id int64, opt ListJobsOptions) ([]Job, error) {
	pp, err := pipelinePath(project, id)
	if err != nil {
		return nil, fmt.Errorf("list pipeline jobs: %w", err)
	}
	jobs, err := c.listJobs(ctx, pp+"/jobs", opt, opt.IncludeRetried)
	if err != nil {
		return nil, fmt.Errorf("list jobs of pipeline %d in %s: %w", id, project, err)
	}
	return jobs, nil
}

// ProjectJobs lists a project's jobs, newest first, following pages up to
// opt.Limit (default 100). IncludeRetried does not apply here.
func (c *Client) ProjectJobs(ctx context.Context, project string, opt ListJobsOptions) ([]Job, error) {
	pp, err := projectPath(project)
	if err != nil {
		return nil, fmt.Errorf("list project jobs: %w", err)
	}
	jobs, err := c.listJobs(ctx, "projects/"+pp+"/jobs", opt, false)
	if err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", project, err)
	}
	return jobs, nil
}

func (c *Client) listJobs(ctx context.Context, path string, opt ListJobsOptions, includeRetried bool) ([]Job, error) {
	limit := opt.Limit
	if limit <= 0 {
		limit = defaultJobLimit
	}
	scope := make([]string, len(opt.Scope))
	for i, s := range opt.Scope {
		scope[i] = string(s)
	}
	ws, err := paginate[wireJob](ctx, c, path, limit, func(page, perPage int) any {
		return &jobsQuery{Scope: scope, IncludeRetried: includeRetried, PerPage: perPage, Page: page}
	})
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(ws))
	for i, w := range ws {
		out[i] = w.job()
	}
	return out, nil
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, project string, id int64) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodGet, project, id, "", nil)
	if err != nil {
		return Job{}, fmt.Errorf("get job %d in %s: %w", id, project, err)
	}
	return j, nil
}

// RetryJob retries a job; the result is the new job.
func (c *Client) RetryJob(ctx context.Context, project string, id int64) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodPost, project, id, "/retry", nil)
	if err != nil {
		return Job{}, fmt.Errorf("retry job %d in %s: %w", id, project, err)
	}
	return j, nil
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, project string, id int64) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodPost, project, id, "/cancel", nil)
	if err != nil {
		return Job{}, fmt.Errorf("cancel job %d in %s: %w", id, project, err)
	}
	return j, nil
}

type playJobBody struct {
	Variables []wireVariable `json:"job_variables_attributes,omitempty"`
	Inputs    map[string]any `json:"job_inputs,omitempty"`
}

// PlayJob starts a manual job, optionally with variables and job inputs
// (job_inputs: https://docs.gitlab.com/ci/jobs/job_inputs/).
func (c *Client) PlayJob(ctx context.Context, project string, id int64, vars []Variable, inputs []Input) (Job, error) {
	if err := checkVariables(vars); err != nil {
		return Job{}, fmt.Errorf("play job %d in %s: %w", id, project, err)
	}
	in, err := inputsBody(inputs)
	if err != nil {
		return Job{}, fmt.Errorf("play job %d in %s: %w", id, project, err)
	}
	var body any
	if len(vars) > 0 || len(in) > 0 {
		body = &playJobBody{Variables: wireVariables(vars), Inputs: in}
	}
	j, err := c.jobCall(ctx, http.MethodPost, project, id, "/play", body)
	if err != nil {
		return Job{}, fmt.Errorf("play job %d in %s: %w", id, project, err)
	}
	return j, nil
}

// EraseJob erases a job's log and artifacts.
func (c *Client) EraseJob(ctx context.Context, project string, id int64) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodPost, project, id, "/erase", nil)
	if err != nil {
		return Job{}, fmt.Errorf("erase job %d in %s: %w", id, project, err)
	}
	return j, nil
}

// KeepArtifacts keeps a job's artifacts from expiring.
func (c *Client) KeepArtifacts(ctx context.Context, project string, id int64) (Job, error) {
	j, err := c.jobCall(ctx, http.MethodPost, project, id, "/artifacts/keep", nil)
	if err != nil {
		return Job{}, fmt.Errorf("keep artifacts of job %d in %s: %w", id, project, err)
	}
	return j, nil
}

// JobTrace streams a job's log to w and returns the bytes written. Past max
// bytes (max <= 0: unlimited) it stops with ErrTooLarge, having written the
// first max bytes; the rest of the body is not read.
func (c *Client) JobTrace(ctx context.Context, project string, id int64, w io.Writer, max int64) (int64, error) {
	n, err := c.stream(ctx, project, id, "/trace", w, max)
	if err != nil {
		return n, fmt.Errorf("download log of job %d in %s: %w", id, project, err)
	}
	return n, nil
}

// JobArtifacts streams a job's artifacts archive (a zip) to w, following
// GitLab's redirect to object storage without the token. Past max bytes
// (max <= 0: unlimited) it stops with ErrTooLarge.
func (c *Client) JobArtifacts(ctx context.Context, project string, id int64, w io.Writer, max int64) (int64, error) {
	n, err := c.stream(ctx, project, id, "/artifacts", w, max)
	if err != nil {
		return n, fmt.Errorf("download artifacts of job %d in %s: %w", id, project, err)
	}
	return n, nil
}

// stream copies a body to w through client-go's Do(req, io.Writer), which
// writes only on a 2xx answer, instead of the helpers that buffer the whole
// body in a *bytes.Reader.
func (c *Client) stream(ctx context.Context, project string, id int64, suffix string, w io.Writer, max int64) (int64, error) {
	jp, err := jobPath(project, id)
	if err != nil {
		return 0, err
	}
	return c.streamPath(ctx, jp+suffix, nil, w, max)
}

// limitWriter passes at most max bytes through (max <= 0: no limit).
type limitWriter struct {
	w        io.Writer
	max      int64
	n        int64
	exceeded bool
	werr     error // the first error of w
	cancel   context.CancelFunc
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.max > 0 && l.n+int64(len(p)) > l.max {
		keep := l.max - l.n
		n, err := l.w.Write(p[:keep])
		l.n += int64(n)
		if err != nil {
			return n, err
		}
		l.exceeded = true
		l.cancel()
		return n, ErrTooLarge
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	if err != nil {
		// The reader gave up (a relay's upload failed): stop the
		// download instead of letting client-go drain the rest, and
		// report the writer's error rather than the cancellation.
		l.werr = err
		l.cancel()
	}
	return n, err
}

// ReadFrom hands w a reader that ends with ErrTooLarge past max bytes, so
// a writer that reads its input itself keeps the ceiling.
func (l *limitWriter) ReadFrom(r io.Reader) (int64, error) {
	cr := &ceilingReader{l: l, r: r}
	n, err := io.Copy(l.w, cr)
	switch {
	case l.exceeded:
		return n, ErrTooLarge
	case err != nil && err != cr.rerr: // the writer's error, not the body's
		if l.werr == nil {
			l.werr = err
		}
		l.cancel()
	}
	return n, err
}

// ceilingReader reads for a limitWriter.
type ceilingReader struct {
	l     *limitWriter
	r     io.Reader
	rerr  error // the last error of r
	probe [1]byte
}

func (c *ceilingReader) Read(p []byte) (int, error) {
	l := c.l
	if l.max > 0 {
		if l.n >= l.max {
			n, err := c.r.Read(c.probe[:])
			if n > 0 {
				l.exceeded = true
				l.cancel()
				return 0, ErrTooLarge
			}
			c.rerr = err
			return 0, err
		}
		if rest := l.max - l.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := c.r.Read(p)
	l.n += int64(n)
	c.rerr = err
	return n, err
}

func (c *Client) jobCall(ctx context.Context, method, project string, id int64, suffix string, body any) (Job, error) {
	jp, err := jobPath(project, id)
	if err != nil {
		return Job{}, err
	}
	var w wireJob
	if _, err := c.do(ctx, request{method: method, path: jp + suffix, opt: body, out: &w}); err != nil {
		return Job{}, err
	}
	return w.job(), nil
}

func jobPath(project string, id int64) (string, error) {
	pp, err := projectPath(project)
	if err != nil {
		return "", err
	}
	if id <= 0 {
		return "", fmt.Errorf("invalid job id %d", id)
	}
	return fmt.Sprintf("projects/%s/jobs/%d", pp, id), nil
}
