package notify

import (
	"context"
	"errors"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/state"
)

// HomeChange is a new status of a watched pipeline that a Slack user
// started: the App Home of that user may show it. It carries what the
// watcher's poll (or a webhook) already read, so acting on it costs GitLab
// nothing.
type HomeChange struct {
	User      string // Slack user id of whoever started it
	ProjectID int64
	Project   string // path
	Pipeline  gitlab.Pipeline
}

// homeChanged tells Config.OnHomeChange that a watch's pipeline moved to
// p's status. It runs inside the tick, so the hook must only record and
// schedule, never wait on Slack.
func (w *Watcher) homeChanged(ctx context.Context, wt state.Watch, p gitlab.Pipeline) {
	if w.cfg.OnHomeChange == nil || wt.Requester == "" {
		return
	}
	w.cfg.OnHomeChange(ctx, HomeChange{User: wt.Requester, ProjectID: wt.ProjectID, Project: wt.Project, Pipeline: p})
}

// homePublisher is the part of *slack.Client that publishes Home tabs. It
// is asserted rather than added to slackAPI so that fakes of slackAPI need
// not grow.
type homePublisher interface {
	PublishViewContext(ctx context.Context, req slack.PublishViewContextRequest) (*slack.ViewResponse, error)
}

var _ homePublisher = (*slack.Client)(nil)

// PublishHome replaces user's App Home tab with view (views.publish,
// https://docs.slack.dev/reference/methods/views.publish). No hash is sent:
// pipebot publishes one user's Home one at a time and always the newest
// state, so the last publish is the one to keep. 429 waits Retry-After.
func (s *Slack) PublishHome(ctx context.Context, user string, view slack.HomeTabViewRequest) error {
	p, ok := s.api.(homePublisher)
	if !ok {
		return errors.New("slack client cannot publish views")
	}
	return s.call(ctx, "views.publish", func() error {
		_, err := p.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	})
}
