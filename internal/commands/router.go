package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
	"github.com/pipebot/pipebot/internal/state"
)

// gitlabAPI is the GitLab access the handlers use: each topic's file
// declares the methods it calls.
type gitlabAPI interface {
	pipelineAPI
	triggerAPI
	variableAPI
	scheduleAPI
	jobAPI
}

// pipelineAPI is what the pipeline commands ask GitLab.
type pipelineAPI interface {
	Project(ctx context.Context, project string) (gitlab.Project, error)
	Pipelines(ctx context.Context, project string, opt gitlab.ListPipelinesOptions) ([]gitlab.Pipeline, error)
	Pipeline(ctx context.Context, project string, id int64) (gitlab.Pipeline, error)
	CreatePipeline(ctx context.Context, project, ref string, vars []gitlab.Variable, inputs []gitlab.Input) (gitlab.Pipeline, error)
	RetryPipeline(ctx context.Context, project string, id int64) (gitlab.Pipeline, error)
	CancelPipeline(ctx context.Context, project string, id int64) (gitlab.Pipeline, error)
	DeletePipeline(ctx context.Context, project string, id int64) error
	PipelineVariables(ctx context.Context, project string, id int64) ([]gitlab.Variable, error)
	PipelineJobs(ctx context.Context, project string, id int64, opt gitlab.ListJobsOptions) ([]gitlab.Job, error)
}

var _ gitlabAPI = (*gitlab.Client)(nil)

// watcher starts watches.
type watcher interface {
	Watch(ctx context.Context, req notify.WatchRequest) (state.Watch, error)
}

var _ watcher = (*notify.Watcher)(nil)

// responder delivers replies.
type responder interface {
	Respond(ctx context.Context, responseURL string, r notify.Response) error
	Ephemeral(ctx context.Context, channel, user string, m notify.Message) error
	OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error
}

var _ responder = (*notify.Slack)(nil)

// store is the router's and handlers' slice of the state package.
type store interface {
	Role(userID string) (string, bool, error)
	SetRole(userID, role string) error
	DeleteRole(userID string) (bool, error)
	Roles() (map[string]string, error)
	Channel(id string) (state.Channel, bool, error)
	UpdateChannel(id string, fn func(*state.Channel) error) (state.Channel, error)
	AppendAudit(e state.AuditEntry) (state.AuditEntry, error)
	Audit(limit int) ([]state.AuditEntry, error)
}

var _ store = (*state.Store)(nil)

// Deps are the router's collaborators.
type Deps struct {
	GitLab  gitlabAPI
	Watcher watcher
	Subs    subscriber // channel subscriptions; nil disables them
	Slack   responder
	Unfurls unfurler // link previews (link_shared); nil disables them
	Store   store
	Admins  []string // Slack user ids who are always admins (PIPEBOT_ADMINS)
	// MaxUploads is how many file uploads may run at once (default 2); the
	// rest are turned away so uploads never hold every worker.
	MaxUploads int
	// GitLabHosts are the hosts a pasted GitLab link may point at (the host
	// of GITLAB_URL); empty accepts any.
	GitLabHosts []string
	DefaultRole Role // everyone else's role; default viewer
	Timeout     time.Duration
	Logger      zerolog.Logger
	Now         func() time.Time
	// Uploads shares artifacts and logs as files; Spool is where they wait
	// (see notify.Spool). Without them, uploads answer with a GitLab link.
	Uploads uploader
	Spool   *notify.Spool
	// MaxUpload is the largest file uploaded (PIPEBOT_MAX_UPLOAD); 0 means 1 GiB.
	MaxUpload int64
	// OnCommand, when set, is told each command's name and result
	// ("ok", "denied", "usage", "user_error", "error").
	OnCommand func(command, result string)
	// Sleep waits between polls (schedule run); nil is a real timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// LiveUnfurls keeps posted previews of running pipelines and jobs up to
	// date (the watcher); nil leaves them as first posted.
	LiveUnfurls unfurlTracker

	// Identities resolves who acts in GitLab for each user's command
	// (PIPEBOT_IDENTITY, identity.go); nil is pipebot's token for everyone.
	Identities identities
	// Identity overrides what the App Home and whoami say about a user's
	// GitLab identity (tests); nil asks Identities (apphome_identity.go).
	Identity IdentityFunc
	// HomeCoalesce is the least time between two publishes of one user's
	// App Home caused by pipeline changes; 0 is DefaultHomeCoalesce.
	HomeCoalesce time.Duration

	// Insights builds CI reports for stats and digests (stats.go); nil
	// disables them. ChartDir, when set, also keeps each chart there as a
	// file (demo prints where).
	Insights reportBuilder
	ChartDir string
	// DigestSlack, when set, posts scheduled digests (PostDigest): on
	// replicas the leader's client, gated on its lease, so that a leader
	// that lost its lease posts none. Nil is Slack.
	DigestSlack channelPoster
}

// Router parses commands, checks roles and arguments, runs handlers and
// delivers their replies. Typed commands and button clicks go through it
// alike, as the user who typed or clicked.
type Router struct {
	deps        Deps
	uploadSlots chan struct{} // one per upload allowed at once
	log         zerolog.Logger
	commands    []*Command
	byName      map[string]*Command
	home        *homeTab     // App Home publishes (apphome.go)
	botID       *botIdentity // who acts in GitLab without Deps.Identity
}

// New returns a Router over the full command table. It does no I/O.
func New(d Deps) *Router {
	if d.DefaultRole == 0 {
		d.DefaultRole = RoleViewer
	}
	if d.Timeout == 0 {
		d.Timeout = time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxUploads <= 0 {
		d.MaxUploads = 2
	}
	r := &Router{deps: d, log: d.Logger.With().Str("component", "commands").Logger(), uploadSlots: make(chan struct{}, d.MaxUploads)}
	r.home = newHomeTab(d.HomeCoalesce, nil)
	cu, _ := d.GitLab.(currentUserAPI)
	r.botID = &botIdentity{gl: cu, now: d.Now}
	r.register(r.table()...)
	return r
}

func (r *Router) register(cmds ...*Command) {
	if r.byName == nil {
		r.byName = map[string]*Command{}
	}
	for _, c := range cmds {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, dup := r.byName[n]; dup {
				panic("commands: duplicate command name " + n)
			}
			r.byName[n] = c
		}
		r.commands = append(r.commands, c)
	}
}

// Commands returns the command table.
func (r *Router) Commands() []*Command { return r.commands }

// Handle runs a request and delivers the reply through its response_url
// (or ephemerally when there is none). It is the slackapp.Handler.
func (r *Router) Handle(ctx context.Context, req slackapp.Request) {
	if req.Kind == slackapp.KindEvent {
		r.handleEvent(ctx, req) // unfurl.go
		return
	}
	if req.Kind == slackapp.KindAction && req.View != nil && req.View.Type == slack.VTHomeTab {
		r.handleHomeAction(ctx, req) // apphome.go
		return
	}
	if req.Kind == slackapp.KindViewSubmission {
		r.handleView(ctx, req) // views.go
		return
	}
	ctx = withRequestID(ctx, newRef())
	reply := r.Dispatch(ctx, req)
	if reply.None {
		return
	}
	r.deliver(ctx, req, reply)
}

var _ slackapp.Handler = (*Router)(nil)

func (r *Router) deliver(ctx context.Context, req slackapp.Request, reply Reply) {
	// The handler's deadline may be spent; delivery gets its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var err error
	if req.ResponseURL != "" {
		err = r.deps.Slack.Respond(ctx, req.ResponseURL, notify.Response{
			Message: reply.Message, InChannel: reply.InChannel,
			ReplaceOriginal: reply.ReplaceOriginal, DeleteOriginal: reply.DeleteOriginal,
		})
	} else if req.ChannelID != "" && req.UserID != "" {
		err = r.deps.Slack.Ephemeral(ctx, req.ChannelID, req.UserID, reply.Message)
	}
	if err == nil {
		return
	}
	ref := requestID(ctx)
	r.log.Warn().Err(err).Str("req_id", ref).Str("user", req.UserID).Str("channel", req.ChannelID).Msg("deliver reply")
	if errors.Is(err, notify.ErrMessageTooLong) || strings.Contains(err.Error(), "invalid_blocks") {
		// Tell the user something rather than nothing.
		short := notify.Message{Text: fmt.Sprintf(":warning: The answer was too large for Slack; narrow it down (ref `%s`).", ref)}
		if req.ResponseURL != "" {
			err = r.deps.Slack.Respond(ctx, req.ResponseURL, notify.Response{Message: short})
		} else {
			err = r.deps.Slack.Ephemeral(ctx, req.ChannelID, req.UserID, short)
		}
		if err != nil {
			r.log.Warn().Err(err).Str("req_id", ref).Msg("deliver short reply")
		}
	}
}

// Dispatch parses and runs one request synchronously and returns the reply.
func (r *Router) Dispatch(ctx context.Context, req slackapp.Request) (reply Reply) {
	return r.dispatch(ctx, req, nil)
}

// dispatch is Dispatch; edit, when set, may complete the parsed call (a
// modal's submitted value) before the role check and run.
func (r *Router) dispatch(ctx context.Context, req slackapp.Request, edit func(*Call) error) (reply Reply) {
	text := strings.TrimSpace(req.Text)
	if req.Kind == slackapp.KindAction && text == "" {
		// Slack reports clicks on link buttons too; they carry no command.
		return Reply{None: true}
	}
	if requestID(ctx) == "" {
		ctx = withRequestID(ctx, newRef())
	}
	ref := requestID(ctx)
	log := r.log.With().Str("req_id", ref).Str("user", req.UserID).Str("channel", req.ChannelID).Str("source", req.Source).Logger()
	tokens, err := lexTokenize(text)
	if err != nil {
		r.observe("parse", "usage")
		return withGeneralUsage(errorReply(fmt.Sprintf("I could not read that command: %s.", strings.TrimSuffix(err.Error(), ".")), nil))
	}
	if len(tokens) == 0 {
		return r.help(nil)
	}
	cmd, rest := r.lookup(tokens)
	if cmd == nil {
		if noun, ok := r.helpTopic(tokens[0]); ok {
			r.observe("help", "usage")
			return r.helpNoun(noun, fmt.Sprintf("`%s` needs a verb.", notify.Escape(truncateWord(strings.Join(tokens[:min(2, len(tokens))], " ")))))
		}
		r.observe("unknown", "usage")
		return withGeneralUsage(errorReply(fmt.Sprintf("I don't know the command `%s`. Try `/ci help`.", notify.Escape(truncateWord(strings.Join(tokens[:min(2, len(tokens))], " ")))), nil))
	}
	log = log.With().Str("command", cmd.Name).Logger()
	if cmd.Name == "pipeline run" && edit == nil {
		project, open, err := r.runFormProject(req, rest)
		if err != nil {
			return r.renderError(log, ref, cmd, nil, err)
		}
		if open {
			return r.openRunForm(ctx, req, project) // runform.go
		}
	}
	call, err := r.parseCall(cmd, req, rest)
	if err == nil && edit != nil {
		err = edit(call)
	}
	if err != nil {
		r.observe(cmd.Name, "usage")
		return r.renderError(log, ref, cmd, call, err)
	}
	role, err := r.roleOf(req.UserID)
	if err != nil {
		return r.renderError(log, ref, cmd, call, err)
	}
	call.Role = role
	if role < cmd.Role {
		r.observe(cmd.Name, "denied")
		r.audit(log, call, "denied")
		return errorReply(fmt.Sprintf("`%s` needs the %s role; you are a %s. An admin can grant it with `/ci role grant @you %s`.",
			cmd.Name, cmd.Role, role, cmd.Role), nil)
	}
	if err := r.bindIdentity(ctx, call); err != nil {
		// Nothing runs without a GitLab identity: no GitLab call is made.
		if reply, ok := r.refuseIdentity(ctx, log, call, err); ok {
			return reply
		}
		return r.renderError(log, ref, cmd, call, err)
	}
	if cmd.Confirm != nil && call.Opts["confirm"] != "yes" {
		r.observe(cmd.Name, "confirm")
		return confirmReply(cmd.Confirm(call), confirmCommand(call))
	}

	ctx, cancel := context.WithTimeout(ctx, r.deps.Timeout)
	defer cancel()
	start := time.Now()
	reply, err = r.run(ctx, cmd, call)
	log.Info().Str("kind", req.Kind.String()).Str("project", call.Project).Dur("took", time.Since(start)).
		Bool("ok", err == nil).Msg("command")
	if err != nil {
		if reply, ok := r.refuseIdentity(ctx, log, call, err); ok {
			// The link failed while the command ran (GitLab refused it).
			return reply
		}
		err = personUnauthorized(personNotFound(r.explainRefusal(ctx, call, err), call.Actor), call.Actor)
		r.observe(cmd.Name, resultOf(err))
		r.audit(log, call, "error: "+oneLine(userMessage(err)))
		return r.renderError(log, ref, cmd, call, err)
	}
	r.observe(cmd.Name, "ok")
	r.audit(log, call, "ok")
	if req.Kind == slackapp.KindAction && call.Opts["confirm"] == "yes" && !reply.InChannel {
		// The click answered a confirmation prompt: the answer replaces it.
		reply.ReplaceOriginal = true
	}
	return reply
}

func (r *Router) run(ctx context.Context, cmd *Command, call *Call) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", cmd.Name, p, debug.Stack())
		}
	}()
	return cmd.Run(ctx, call)
}

func (r *Router) observe(name, result string) {
	if r.deps.OnCommand != nil {
		r.deps.OnCommand(name, result)
	}
}

func resultOf(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return "user_error"
	}
	if gitlab.UserMessage(err) != "" {
		return "gitlab_error"
	}
	return "error"
}

type requestIDKey struct{}

// withRequestID carries a request's id, which every log line of the request
// and any error reference shown to the user share.
func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRef() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
