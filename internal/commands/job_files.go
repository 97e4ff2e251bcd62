package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

func (r *Router) jobLog(ctx context.Context, c *Call) (Reply, error) {
	file := false
	if a := c.Arg(1); a != "" {
		if !strings.EqualFold(a, "file") {
			return Reply{}, usageError(c.Cmd, "`%s`: after the job id only `file` may follow.", notify.Code(truncateWord(a)))
		}
		file = true
	}
	n, err := c.IntOpt("lines", notify.DefaultTailLines, notify.MaxTailLines)
	if err != nil {
		return Reply{}, err
	}
	raw, err := parseBool(c, "raw")
	if err != nil {
		return Reply{}, err
	}
	if raw != nil && !file {
		return Reply{}, usageError(c.Cmd, "`raw:` goes with `file`: `raw:yes` uploads the log exactly as GitLab has it, escapes and section markers included.")
	}
	j, err := r.getJob(ctx, c)
	if err != nil {
		return Reply{}, err
	}
	if file {
		return r.relay(ctx, c, j.WebURL, "the log", notify.Upload{
			Filename: fmt.Sprintf("job-%d-%s.log", j.ID, safeName(j.Name)),
			Title:    fmt.Sprintf("Log of job #%d %s (%s)", j.ID, j.Name, c.Project),
		}, func(ctx context.Context, w io.Writer, max int64) (int64, error) {
			if raw != nil && *raw {
				return c.GitLab.JobTrace(ctx, c.Project, j.ID, w, max)
			}
			// Cleaned as it streams: the spool gets the text people read.
			clean := notify.NewLogCleaner(w)
			_, err := c.GitLab.JobTrace(ctx, c.Project, j.ID, clean, max)
			if cerr := clean.Close(); err == nil {
				err = cerr
			}
			return clean.Written(), err
		})
	}
	tail := notify.NewLogTail(n, notify.DefaultTailLineBytes)
	if _, err := c.GitLab.JobTrace(ctx, c.Project, j.ID, tail, 0); err != nil {
		return Reply{}, notFound(err, "the log of job #%d in %s", j.ID, c.Project)
	}
	header := fmt.Sprintf("%s *Log of job %s* `%s` %s", notify.StatusEmoji(j.Status), jobLink(j), notify.Code(j.Name), notify.Code(notify.StatusWord(j.Status)))
	lines := tail.Lines()
	if len(lines) == 0 {
		return TextReply("%s: the log is empty (the job has not started, or its log was erased).", header), nil
	}
	sections, shown := logSections(lines, 20)
	header += fmt.Sprintf(" — last %d lines of %s", shown, humanBytes(tail.Seen()))
	blocks := []slack.Block{notify.Section(header)}
	blocks = append(blocks, sections...)
	blocks = append(blocks, slack.NewActionBlock("job_log_actions",
		notify.Button("job_log_file", "Whole log as a file", "job log "+jobRef(c.Project, j.ID)+" file")))
	return Reply{Message: notify.Message{Text: fmt.Sprintf("Log of job #%d %s", j.ID, notify.Code(j.Name)), Blocks: blocks}}, nil
}

// logSections splits lines into code-block sections that fit Slack's 3000
// characters per section, keeping the newest at most maxBlocks of them, and
// says how many lines the sections show. Sizes are counted as rendered
// (escapes and defused backticks included), so no section drops a line.
func logSections(lines []string, maxBlocks int) ([]slack.Block, int) {
	const budget = 2900 // a CodeBlock of 2990 bytes keeps 2978 for lines
	var groups [][]string
	var cur []string
	size := 0
	for _, l := range lines {
		d := notify.CodeLineSize(l)
		if size+d > budget && len(cur) > 0 {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, l)
		size += d
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	if len(groups) > maxBlocks {
		groups = groups[len(groups)-maxBlocks:]
	}
	out := make([]slack.Block, 0, len(groups))
	shown := 0
	for _, g := range groups {
		block, n := notify.CodeBlockLines(g, 2990)
		out = append(out, notify.Section(block))
		shown += n
	}
	return out, shown
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "job"
	}
	return b.String()
}

func (r *Router) jobArtifacts(ctx context.Context, c *Call) (Reply, error) {
	path := c.Opt("path", "")
	if _, given := c.Opts["path"]; given {
		if err := gitlab.CheckArtifactPath(path); err != nil {
			return Reply{}, userErrorf("`path:%s` is not a file inside the archive: use a relative path without `..`, a leading `/`, backslashes or NUL (for example `path:build/app.txt`).", notify.Code(truncateWord(strings.ReplaceAll(path, "\x00", "\\0"))))
		}
	}
	ref, name := c.Opt("ref", ""), c.Opt("job", "")
	if c.Arg(0) == "" {
		if ref == "" || name == "" {
			return Reply{}, usageError(c.Cmd, "Give a job id, or both `ref:` and `job:` for the latest successful job of that name on a ref.")
		}
		return r.refArtifacts(ctx, c, ref, name, path)
	}
	if ref != "" || name != "" {
		return Reply{}, usageError(c.Cmd, "Give either a job id or `ref:` and `job:`, not both.")
	}
	j, err := r.getJob(ctx, c)
	if err != nil {
		return Reply{}, err
	}
	if path == "" {
		if !j.HasArtifacts {
			return TextReply("Job %s `%s` has no artifacts archive (it may have expired or been erased).", jobLink(j), notify.Code(j.Name)), nil
		}
		max := r.maxUpload()
		if j.ArtifactsSize > max {
			return tooLargeReply("The artifacts of job "+jobLink(j), j.ArtifactsSize, max, j.WebURL+"/artifacts/download"), nil
		}
		// The size from the API lets the relay stream GitLab → Slack
		// without spooling; a body of another size fails the upload.
		return r.relay(ctx, c, j.WebURL+"/artifacts/download", "the artifacts", notify.Upload{
			Filename: fmt.Sprintf("job-%d-%s-artifacts.zip", j.ID, safeName(j.Name)),
			Title:    fmt.Sprintf("Artifacts of job #%d %s (%s)", j.ID, j.Name, c.Project),
			Size:     j.ArtifactsSize,
		}, func(ctx context.Context, w io.Writer, max int64) (int64, error) {
			return c.GitLab.JobArtifacts(ctx, c.Project, j.ID, w, max)
		})
	}
	return r.relay(ctx, c, j.WebURL+"/artifacts/file/"+escapePath(path), "`"+notify.Code(path)+"`", notify.Upload{
		Filename: fileBase(path),
		Title:    fmt.Sprintf("%s from job #%d %s (%s)", path, j.ID, j.Name, c.Project),
	}, func(ctx context.Context, w io.Writer, max int64) (int64, error) {
		return c.GitLab.JobArtifactFile(ctx, c.Project, j.ID, path, w, max)
	})
}

func (r *Router) refArtifacts(ctx context.Context, c *Call, ref, name, path string) (Reply, error) {
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		return Reply{}, err
	}
	link := proj.WebURL + "/-/jobs/artifacts/" + url.PathEscape(ref) + "/download?job=" + url.QueryEscape(name)
	what := fmt.Sprintf("the artifacts of `%s` on `%s`", notify.Code(name), notify.Code(ref))
	up := notify.Upload{
		Filename: fmt.Sprintf("%s-%s-artifacts.zip", safeName(name), safeName(ref)),
		Title:    fmt.Sprintf("Artifacts of %s on %s (%s)", name, ref, proj.Path),
	}
	if path != "" {
		link = proj.WebURL + "/-/jobs/artifacts/" + url.PathEscape(ref) + "/raw/" + escapePath(path) + "?job=" + url.QueryEscape(name)
		what = fmt.Sprintf("`%s` from `%s` on `%s`", notify.Code(path), notify.Code(name), notify.Code(ref))
		up = notify.Upload{Filename: fileBase(path), Title: fmt.Sprintf("%s from %s on %s (%s)", path, name, ref, proj.Path)}
	}
	return r.relay(ctx, c, link, what, up, func(ctx context.Context, w io.Writer, max int64) (int64, error) {
		return c.GitLab.RefArtifacts(ctx, proj.Path, ref, name, path, w, max)
	})
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func fileBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if p == "" || p == "." {
		return "artifact"
	}
	return p
}

func (r *Router) maxUpload() int64 {
	if r.deps.MaxUpload > 0 {
		return r.deps.MaxUpload
	}
	return defaultMaxUpload
}

func tooLargeReply(what string, size, max int64, link string) Reply {
	s := "is larger than"
	if size > 0 {
		s = "is " + humanBytes(size) + ", more than"
	}
	return TextReply("%s %s the %s I may upload to Slack (PIPEBOT_MAX_UPLOAD). Download it from GitLab: %s",
		what, s, humanBytes(max), notify.Link(link, "download"))
}

// relay downloads something from GitLab into the spool and uploads it to
// the channel: into the card's thread when the request came from a button
// on it. Too large, or a workspace that takes no files, gets a link to
// GitLab instead.
func (r *Router) relay(ctx context.Context, c *Call, link, what string, up notify.Upload,
	fetch func(ctx context.Context, w io.Writer, max int64) (int64, error)) (Reply, error) {
	if r.deps.Uploads == nil || r.deps.Spool == nil {
		return TextReply("I can't upload files here (no spool directory is configured). Get %s from GitLab: %s", what, notify.Link(link, "open")), nil
	}
	up.Channel = c.Req.ChannelID
	if c.Req.Kind == slackapp.KindAction {
		up.ThreadTS = c.Req.ThreadTS
		if up.ThreadTS == "" {
			up.ThreadTS = c.Req.MessageTS
		}
	}
	if up.Comment == "" {
		up.Comment = fmt.Sprintf("%s for <@%s>", notify.Escape(up.Title), c.Req.UserID)
	}
	// Uploads run on the command workers for as long as they take: at most
	// a few at once, so big files can never hold up everyone's commands.
	select {
	case r.uploadSlots <- struct{}{}:
		defer func() { <-r.uploadSlots }()
	default:
		return TextReply("%d uploads are already running; try again when one has finished. Or get %s from GitLab: %s",
			cap(r.uploadSlots), what, notify.Link(link, "open")), nil
	}
	max := r.maxUpload()
	// The upload outlives the command's timeout, not the process.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), uploadTimeout)
	defer cancel()
	res, err := r.deps.Uploads.Relay(uctx, r.deps.Spool, up, func(w io.Writer) (int64, error) {
		return fetch(uctx, w, max)
	})
	switch {
	case errors.Is(err, gitlab.ErrTooLarge):
		return tooLargeReply(strings.ToUpper(what[:1])+what[1:], 0, max, link), nil
	case errors.Is(err, notify.ErrUploadsRefused):
		return TextReply("This workspace doesn't let me upload files (files:write or file uploads are off). Get %s from GitLab: %s", what, notify.Link(link, "open")), nil
	case errors.Is(err, notify.ErrSizeMismatch):
		return TextReply("GitLab sent %s with another size than it announced, so I shared nothing. Try again, or get it from GitLab: %s", what, notify.Link(link, "open")), nil
	case errors.Is(err, notify.ErrRateLimited):
		return TextReply("Slack is rate limiting file uploads right now (it kept answering 429), so I shared nothing. Try again in a minute, or get %s from GitLab: %s", what, notify.Link(link, "open")), nil
	case errors.Is(err, notify.ErrEmptyFile):
		return TextReply("%s is empty; there is nothing to upload.", strings.ToUpper(what[:1])+what[1:]), nil
	case errors.Is(err, gitlab.ErrNotFound):
		return Reply{}, userErrorf("GitLab has no %s (it may have expired, been erased, or the job may not have succeeded).", what)
	case err != nil:
		return Reply{}, fmt.Errorf("relay %s: %w", up.Filename, err)
	}
	return TextReply("Uploaded %s (%s) here.", what, humanBytes(res.Size)), nil
}
