// Package gitlab owns pipebot's access to the GitLab REST API (v4).
//
// It wraps the official client (gitlab.com/gitlab-org/api/client-go) and
// returns pipebot's own types, never client-go's. It also takes care of the
// traps of that client and of net/http that matter to a chat bot:
//
//   - mutating calls (POST/PUT/DELETE) are retried on 429 only, never on 5xx,
//     so a pipeline is never created twice; reads retry 429, 5xx and network
//     errors, at most three attempts, with short bounded waits that honor
//     Retry-After and RateLimit-Reset;
//   - the token is never sent to another host when GitLab redirects (artifact
//     downloads go to object storage);
//   - errors map to sentinels (ErrNotFound, ErrForbidden, …) usable with
//     errors.Is, and never contain the token or full URLs;
//   - lists follow X-Next-Page with per_page ≤ 100 up to a limit;
//   - job logs and artifact archives are streamed to an io.Writer with a
//     byte ceiling instead of being buffered in memory.
package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go"
)

const (
	// maxAttempts bounds the attempts of one call (the first try included).
	maxAttempts = 3
	// maxPerPage is GitLab's largest accepted page size.
	maxPerPage = 100
	// maxRedirects bounds a redirect chain (artifacts usually redirect once).
	maxRedirects = 10

	defaultBaseURL        = "https://gitlab.com"
	defaultUserAgent      = "pipebot"
	defaultMaxWait        = 30 * time.Second
	defaultRequestTimeout = 30 * time.Second
	defaultBackoff        = 500 * time.Millisecond
	defaultHeaderTimeout  = 60 * time.Second
)

// Config configures a Client. Only BaseURL and Token matter in production;
// everything else has a sensible default.
type Config struct {
	// BaseURL is the GitLab instance, e.g. https://gitlab.com; the /api/v4
	// suffix is added when missing. Empty means https://gitlab.com.
	BaseURL string
	// Token is a personal, group or project access token with scope "api".
	// It travels only in the PRIVATE-TOKEN header. Empty sends no token.
	Token string
	// HTTPClient is optional; only its Transport (and Jar) are used: New sets
	// its own CheckRedirect and leaves Timeout to RequestTimeout and ctx so
	// that long downloads are not cut off.
	HTTPClient *http.Client
	// UserAgent is sent with every request; default "pipebot".
	UserAgent string
	// MaxWait caps a single retry wait; default 30s. When GitLab asks for a
	// longer wait the call fails at once with a *RateLimitError instead.
	MaxWait time.Duration
	// RequestTimeout bounds one attempt of a JSON call (not the streaming
	// downloads, which are bounded by ctx); default 30s.
	RequestTimeout time.Duration
	// Observe is an optional hook called once per HTTP attempt (redirect hops
	// included) with the method, the status (0 on a transport error) and the
	// duration until the response headers arrived; for metrics.
	Observe func(method string, status int, d time.Duration)
}

// Client talks to one GitLab instance. It is safe for concurrent use.
type Client struct {
	gl    *gl.Client
	token string
	// bearer and sudo make the client act for a person (as.go): a
	// client derived with WithOAuth or WithSudo shares gl and its
	// transport with the one it came from.
	bearer         TokenSource
	sudo           int64
	maxWait        time.Duration
	requestTimeout time.Duration
	backoff        time.Duration

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	// rate counts requests and keeps GitLab's RateLimit-* (ratelimit.go).
	rate *rateState
}

// New builds a Client from cfg. It does no I/O.
func New(cfg Config) (*Client, error) {
	base, err := normalizeBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		token:          cfg.Token,
		maxWait:        cfg.MaxWait,
		requestTimeout: cfg.RequestTimeout,
		backoff:        defaultBackoff,
		now:            time.Now,
		sleep:          sleepCtx,
		rate:           &rateState{},
	}
	if c.maxWait <= 0 {
		c.maxWait = defaultMaxWait
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = defaultRequestTimeout
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}

	var transport http.RoundTripper
	var jar http.CookieJar
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport
		jar = cfg.HTTPClient.Jar
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = defaultHeaderTimeout
		transport = t
	}
	transport = rateTransport{next: transport, state: c.rate}
	if cfg.Observe != nil {
		transport = observeTransport{next: transport, observe: cfg.Observe}
	}
	hc := &http.Client{
		Transport:     transport,
		Jar:           jar,
		CheckRedirect: checkRedirect,
	}

	// The auth source reads the credential of each request from its
	// context (as.go), so that clients derived for a person share this
	// one gl.Client, its transport and its connections.
	auth := authSource{token: cfg.Token}
	// client-go's own retries are off: they retry POSTs on 5xx (duplicate
	// pipelines) and wait without bound; do() implements pipebot's policy.
	// Its adaptive limiter is replaced too: it is configured once from the
	// first response's RateLimit-Limit and could stall every later call.
	inner, err := gl.NewAuthSourceClient(auth,
		gl.WithBaseURL(base),
		gl.WithHTTPClient(hc),
		gl.WithoutRetries(),
		gl.WithCustomRetryMax(0),
		gl.WithCustomLimiter(noLimiter{}),
		gl.WithUserAgent(ua),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	c.gl = inner
	return c, nil
}

// normalizeBaseURL checks the configured URL and returns it without query,
// fragment or credentials. client-go appends /api/v4/ when missing.
func normalizeBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = defaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("gitlab base URL is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("gitlab base URL must start with http:// or https://, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("gitlab base URL has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("gitlab base URL must not contain credentials, a query or a fragment")
	}
	return u.String(), nil
}

// noLimiter disables client-go's client-side rate limiter.
type noLimiter struct{}

func (noLimiter) Wait(ctx context.Context) error { return ctx.Err() }

// authHeaders are the headers that carry a GitLab credential.
var authHeaders = []string{"Private-Token", "Job-Token", "Authorization", "Cookie"}

// checkRedirect strips credentials when a redirect leaves the original host
// (or downgrades to plain http). net/http copies custom headers such as
// PRIVATE-TOKEN to any host, and artifact downloads redirect to object
// storage: https://pkg.go.dev/net/http#Client (see "Redirect").
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	orig := via[0].URL
	if !strings.EqualFold(req.URL.Host, orig.Host) || req.URL.Scheme != orig.Scheme {
		for _, h := range authHeaders {
			req.Header.Del(h)
		}
	}
	return nil
}

// observeTransport reports every attempt to the Observe hook.
type observeTransport struct {
	next    http.RoundTripper
	observe func(method string, status int, d time.Duration)
}

func (t observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := 0
	if err == nil && resp != nil {
		status = resp.StatusCode
	}
	t.observe(req.Method, status, time.Since(start))
	return resp, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// request describes one API call.
type request struct {
	method string
	path   string // relative to /api/v4/, already escaped
	opt    any    // query for GET/DELETE, JSON body for POST/PUT
	out    any    // JSON target, or an io.Writer when stream is set
	stream bool
	// graphql sends the request to /api/graphql instead of path.
	graphql bool
	// read marks a POST that changes nothing (a GraphQL query): it is
	// retried as a GET is.
	read bool
}

// do runs r with pipebot's retry policy and maps failures to our errors.
func (c *Client) do(ctx context.Context, r request) (*gl.Response, error) {
	idempotent := r.method == http.MethodGet || r.method == http.MethodHead || r.read
	var written *countingWriter
	if r.stream {
		written = &countingWriter{w: r.out.(io.Writer)}
		r.out = written
	}
	bearer, err := c.bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	refreshed := false
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r, bearer)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, c.contextError(ctx.Err())
		}
		status := 0
		var header http.Header
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
			header = resp.Header
		}
		mapped := c.mapError(status, header, err, bearer)
		if status == http.StatusUnauthorized && c.bearer != nil && !refreshed && (written == nil || written.n == 0) {
			// The person's token expired or was revoked: refresh it once
			// and try again with the new one.
			refreshed = true
			if bearer, err = c.bearer.Refresh(ctx, bearer); err != nil {
				return resp, err
			}
			attempt--
			continue
		}

		retry := false
		switch {
		case status == http.StatusTooManyRequests:
			retry = true // GitLab did not act on the request: safe for POSTs too
		case status >= 500 && status != http.StatusNotImplemented:
			retry = idempotent
		case status == 0 && errors.Is(mapped, ErrUnavailable):
			retry = idempotent && (written == nil || written.n == 0)
		}
		if !retry || attempt >= maxAttempts {
			return resp, mapped
		}
		wait := c.retryWait(header, attempt)
		if wait > c.maxWait || !c.fitsDeadline(ctx, wait) {
			return resp, mapped
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, c.contextError(err)
		}
	}
}

// once makes a single attempt; bearer, when not empty, is the person's
// OAuth token to send instead of pipebot's.
func (c *Client) once(ctx context.Context, r request, bearer string) (*gl.Response, error) {
	actx := ctx
	if !r.stream {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.requestTimeout)
		defer cancel()
	}
	actx = withCredential(actx, c.token, bearer)
	opts := []gl.RequestOptionFunc{gl.WithContext(actx)}
	if c.sudo > 0 {
		opts = append(opts, gl.WithSudo(c.sudo))
	}
	if r.graphql {
		req, err := c.gl.NewRequestToURL(r.method, c.graphqlURL(), r.opt, opts)
		if err != nil {
			return nil, fmt.Errorf("build request: %w", err)
		}
		return c.gl.Do(req, r.out)
	}
	req, err := c.gl.NewRequest(r.method, r.path, r.opt, opts)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	return c.gl.Do(req, r.out)
}

// graphqlURL is GitLab's GraphQL endpoint beside the REST API: the base
// URL's api/v4/ becomes api/graphql, keeping a relative URL root
// (https://example.com/gitlab/api/graphql).
func (c *Client) graphqlURL() *url.URL {
	u := c.gl.BaseURL()
	u.Path = strings.TrimSuffix(u.Path, "api/v4/") + "api/graphql"
	u.RawPath = ""
	return u
}

// fitsDeadline reports whether waiting d still leaves ctx time to retry.
func (c *Client) fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || deadline.Sub(c.now()) > d
}

// countingWriter counts bytes written so that a stream that already
// delivered data is never retried (the writer would get them twice).
type countingWriter struct {
	w io.Writer
	n int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// ReadFrom passes the body reader on (io.Copy prefers it), so a writer
// that can use a reader directly, such as a relay's upload, gets the
// response body itself instead of a copy through a buffer.
func (cw *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(cw.w, readCounter{r: r, n: &cw.n})
}

type readCounter struct {
	r io.Reader
	n *int64
}

func (rc readCounter) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	*rc.n += int64(n)
	return n, err
}

// paginate follows X-Next-Page until limit items are collected. per_page
// stays constant across pages (changing it would shift page offsets).
func paginate[T any](ctx context.Context, c *Client, path string, limit int, query func(page, perPage int) any) ([]T, error) {
	perPage := min(limit, maxPerPage)
	var out []T
	err := eachPage(ctx, c, path, func(page int) any { return query(page, perPage) }, func(batch []T, _ *gl.Response) bool {
		out = append(out, batch...)
		return len(out) < limit
	})
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// eachPage GETs path page after page from page 1, with query(page) as the
// query, and hands each page's items and response to fn. It follows
// X-Next-Page and stops after a page when fn returns false, the page is
// empty or it is the last one. An error of a request is returned as it is.
func eachPage[T any](ctx context.Context, c *Client, path string, query func(page int) any, fn func(batch []T, resp *gl.Response) bool) error {
	for page := 1; ; {
		var batch []T
		resp, err := c.do(ctx, request{method: http.MethodGet, path: path, opt: query(page), out: &batch})
		if err != nil {
			return err
		}
		if !fn(batch, resp) || len(batch) == 0 || resp == nil || resp.NextPage <= int64(page) {
			return nil
		}
		page = int(resp.NextPage)
	}
}

// projectPath escapes a numeric id or a full path ("group/sub/app") for use
// in a URL path: group%2Fsub%2Fapp.
func projectPath(project string) (string, error) {
	project = strings.Trim(strings.TrimSpace(project), "/")
	if project == "" {
		return "", errors.New("empty project")
	}
	return gl.PathEscape(project), nil
}
