package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/slack-go/slack/slackevents"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// unfurler answers link_shared events with previews.
type unfurler interface {
	Unfurl(ctx context.Context, to notify.UnfurlTarget, unfurls map[string]notify.Message) error
}

var _ unfurler = (*notify.Slack)(nil)

// unfurlTracker keeps posted previews live.
type unfurlTracker interface {
	TrackUnfurl(ctx context.Context, u notify.LiveUnfurl) (bool, error)
}

var _ unfurlTracker = (*notify.Watcher)(nil)

// linkPreview is one link's preview and what it shows.
type linkPreview struct {
	msg       notify.Message
	projectID int64
	project   string
	pipeline  gitlab.Pipeline
	job       *gitlab.Job
}

// maxUnfurls bounds the links of one message pipebot previews (each costs
// GitLab calls); Slack itself sends at most a handful per message.
const maxUnfurls = 5

// handleEvent runs an Events API callback: link_shared (unfurls) and
// app_home_opened (apphome.go); others do nothing.
func (r *Router) handleEvent(ctx context.Context, req slackapp.Request) {
	if req.Event == nil {
		return
	}
	switch ev := req.Event.InnerEvent.Data.(type) {
	case *slackevents.LinkSharedEvent:
		if ev != nil && r.deps.Unfurls != nil {
			r.unfurl(ctx, req, ev)
		}
	case *slackevents.AppHomeOpenedEvent:
		if ev != nil {
			r.openHome(ctx, req.TeamID, ev)
		}
	}
}

// unfurl previews the shared links that point at a pipeline or job on
// pipebot's GitLab. Any user may see them (viewer is the lowest role).
// Links to another host, or to something pipebot's token cannot see, are
// left alone: nothing about them reaches Slack.
func (r *Router) unfurl(ctx context.Context, req slackapp.Request, ev *slackevents.LinkSharedEvent) {
	log := r.log.With().Str("user", req.UserID).Str("channel", req.ChannelID).Str("event", "link_shared").Logger()
	ctx, cancel := context.WithTimeout(ctx, r.deps.Timeout)
	defer cancel()
	// The preview is read as the person who pasted the link (DESIGN §7):
	// someone without a GitLab identity gets no preview, and a link they
	// cannot see in GitLab is not unfurled through pipebot's token.
	if ev.User != "" {
		req.UserID = ev.User
	}
	_, gl, err := r.actorOf(ctx, req)
	if err != nil {
		log.Info().Err(err).Msg("links not unfurled: no GitLab identity for the user")
		return
	}
	unfurls := map[string]notify.Message{}
	var shown []string
	previews := map[string]linkPreview{}
	for _, l := range ev.Links {
		if len(unfurls) >= maxUnfurls {
			break
		}
		if _, done := unfurls[l.URL]; done {
			continue
		}
		p, ok, err := r.linkPreview(ctx, gl, l.URL)
		if err != nil {
			// The reason stays in the log; the link just gets no preview.
			log.Info().Err(err).Str("ref", newRef()).Msg("link not unfurled")
			continue
		}
		if ok {
			unfurls[l.URL] = p.msg
			previews[l.URL] = p
			shown = append(shown, l.URL)
		}
	}
	if len(unfurls) == 0 {
		return
	}
	to := unfurlTarget(req, ev)
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer dcancel()
	if err := r.deps.Unfurls.Unfurl(dctx, to, unfurls); err != nil {
		log.Warn().Err(err).Int("links", len(unfurls)).Msg("chat.unfurl")
		r.observe("unfurl", "error")
		return
	}
	r.observe("unfurl", "ok")
	r.trackUnfurls(dctx, to, shown, previews)
}

// trackUnfurls hands the previews of running pipelines and jobs on a posted
// message to the watcher, which updates them as they move.
func (r *Router) trackUnfurls(ctx context.Context, to notify.UnfurlTarget, urls []string, previews map[string]linkPreview) {
	if r.deps.LiveUnfurls == nil || to.Source == "composer" {
		return
	}
	for _, u := range urls {
		p := previews[u]
		if p.projectID == 0 {
			continue
		}
		_, err := r.deps.LiveUnfurls.TrackUnfurl(ctx, notify.LiveUnfurl{
			Channel: to.Channel, TS: to.TS, URL: u, ProjectID: p.projectID, Project: p.project, Pipeline: p.pipeline, Job: p.job,
		})
		if err != nil {
			r.log.Warn().Err(err).Str("channel", to.Channel).Msg("live unfurl not recorded")
		}
	}
}

// linkPreview renders the preview of one link: ok is false for links that
// are not a pipeline or job on pipebot's GitLab.
func (r *Router) linkPreview(ctx context.Context, gl gitlabAPI, link string) (linkPreview, bool, error) {
	ref, ok := lexProjectRef(link)
	if !ok || ref.Host == "" || (ref.PipelineID == 0 && ref.JobID == 0) {
		return linkPreview{}, false, nil
	}
	if len(r.deps.GitLabHosts) > 0 && r.checkHost(ref) != nil {
		return linkPreview{}, false, nil
	}
	if ref.PipelineID > 0 {
		p, err := gl.Pipeline(ctx, ref.Path, ref.PipelineID)
		if err != nil {
			return linkPreview{}, false, fmt.Errorf("pipeline %d of %s: %w", ref.PipelineID, ref.Path, err)
		}
		m, err := r.card(ctx, gl, ref.Path, p)
		if err != nil {
			return linkPreview{}, false, err
		}
		return linkPreview{msg: m, projectID: p.ProjectID, project: ref.Path, pipeline: p}, true, nil
	}
	j, err := r.getJob(ctx, &Call{Project: ref.Path, Args: []string{fmt.Sprint(ref.JobID)}, Opts: map[string]string{}, GitLab: gl})
	if err != nil {
		return linkPreview{}, false, fmt.Errorf("job %d of %s: %w", ref.JobID, ref.Path, err)
	}
	lp := linkPreview{msg: JobPreview(ref.Path, j), project: ref.Path, job: &j}
	if r.deps.LiveUnfurls != nil && !j.Status.Finished() {
		// A job carries no project id; the watcher polls by id. Only a
		// job that will still change needs it.
		proj, err := gl.Project(ctx, ref.Path)
		if err != nil {
			return linkPreview{}, false, fmt.Errorf("project %s: %w", ref.Path, err)
		}
		lp.projectID = proj.ID
	}
	return lp, true, nil
}

// unfurlTarget is where chat.unfurl answers: unfurl_id and source when Slack
// sent them (slack-go's LinkSharedEvent does not keep them, so they are read
// from the raw event), else the message's channel and ts.
func unfurlTarget(req slackapp.Request, ev *slackevents.LinkSharedEvent) notify.UnfurlTarget {
	to := notify.UnfurlTarget{Channel: ev.Channel, TS: ev.MessageTimeStamp}
	if cb, ok := req.Event.Data.(*slackevents.EventsAPICallbackEvent); ok && cb != nil && cb.InnerEvent != nil {
		var raw struct {
			UnfurlID string `json:"unfurl_id"`
			Source   string `json:"source"`
		}
		if json.Unmarshal(*cb.InnerEvent, &raw) == nil && raw.UnfurlID != "" && raw.Source != "" {
			to.UnfurlID, to.Source = raw.UnfurlID, raw.Source
		}
	}
	return to
}
