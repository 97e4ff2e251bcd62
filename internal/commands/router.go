package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
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
	CreatePipeline(ctx context.Context, project, ref string, vars []gitlab.Variable) (gitlab.Pipeline, error)
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

// lookup finds the longest command name (up to three words) that tokens
// start with. A plural noun works as the singular (`pipelines show 1`).
func (r *Router) lookup(tokens []string) (*Command, []string) {
	singular := append([]string{}, tokens...)
	if len(singular) > 0 {
		singular[0] = singularNoun(singular[0])
	}
	for n := min(3, len(tokens)); n >= 1; n-- {
		for _, words := range [][]string{tokens, singular} {
			name := strings.ToLower(strings.Join(words[:n], " "))
			if c, ok := r.byName[name]; ok {
				return c, tokens[n:]
			}
		}
	}
	return nil, nil
}

// singularNoun turns "pipelines" into "pipeline" and "schedules" into
// "schedule"; other words are returned as they are.
// helpTopic finds the help topic a word names: a noun as typed or in the
// singular, or an alias of a command (`run`, `subscriptions`).
func (r *Router) helpTopic(word string) (string, bool) {
	w := strings.ToLower(word)
	for _, n := range []string{w, singularNoun(w)} {
		if len(r.nounCommands(n)) > 0 {
			return n, true
		}
	}
	if c, ok := r.byName[w]; ok {
		return noun(c.Name), true
	}
	return "", false
}

// withGeneralUsage adds the command shape and a few examples to a reply
// for text that named no command.
func withGeneralUsage(reply Reply) Reply {
	usage := "Usage: `/ci &lt;noun&gt; &lt;verb&gt; [project] [args…]`\nExamples: `/ci pipelines group/app`, `/ci run group/app main`, `/ci job log group/app 42`, `/ci help`"
	reply.Blocks = append(reply.Blocks, notify.Section(usage))
	reply.Text += "\n" + usage
	return reply
}

func singularNoun(w string) string {
	w = strings.ToLower(w)
	if strings.HasSuffix(w, "s") && len(w) > 3 {
		return strings.TrimSuffix(w, "s")
	}
	return w
}

// helpGroups are topics whose commands are different nouns.
var helpGroups = map[string][]string{
	"subscribe": {"subscribe", "unsubscribe", "subscriptions"}, "unsubscribe": {"subscribe", "unsubscribe", "subscriptions"},
	"subscriptions": {"subscribe", "unsubscribe", "subscriptions"},
}

func (r *Router) nounCommands(noun string) []*Command {
	nouns := helpGroups[noun]
	if nouns == nil {
		nouns = []string{noun}
	}
	var out []*Command
	for _, c := range r.commands {
		for _, n := range nouns {
			if c.Name == n || strings.HasPrefix(c.Name, n+" ") {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// parseCall splits the words after the command name into project,
// positional arguments, options and variables, and checks them against the
// table entry.
func (r *Router) parseCall(cmd *Command, req slackapp.Request, rest []string) (*Call, error) {
	call := &Call{Req: req, Cmd: cmd, Opts: map[string]string{}}
	call.Text = cmd.Name
	if len(rest) > 0 {
		call.Text += " " + lexQuote(rest...)
	}
	a, err := lexSplit(rest)
	if err != nil {
		return call, usageError(cmd, "%s.", strings.TrimSuffix(err.Error(), "."))
	}
	call.Opts = a.Options
	if call.Opts == nil {
		call.Opts = map[string]string{}
	}
	call.Vars = a.Vars
	words := a.Words
	for name := range call.Opts {
		if name == "confirm" && cmd.Confirm != nil {
			continue
		}
		if !slices.Contains(cmd.Options, name) {
			if len(cmd.Options) == 0 {
				return call, usageError(cmd, "`%s` takes no options (you gave `%s:`).", cmd.Name, name)
			}
			return call, usageError(cmd, "`%s` has no option `%s:`; it takes %s.", cmd.Name, name, optionList(cmd.Options))
		}
	}
	if len(call.Vars) > 0 && !cmd.Vars {
		return call, usageError(cmd, "`%s` takes no variables (you gave `%s=…`).", cmd.Name, call.Vars[0].Key)
	}

	if cmd.Project {
		if len(words) > 0 {
			if ref, ok := lexProjectRef(words[0]); ok && (ref.Host != "" || len(words) > cmd.MinArgs) {
				if err := r.checkHost(ref); err != nil {
					return call, err
				}
				call.Project = ref.Path
				words = words[1:]
				var id int64
				switch cmd.IDFrom {
				case "pipeline":
					id = ref.PipelineID
				case "job":
					id = ref.JobID
				case "pipeline:":
					// The link's pipeline becomes the pipeline: option.
					if _, set := call.Opts["pipeline"]; !set && ref.PipelineID > 0 {
						call.Opts["pipeline"] = fmt.Sprint(ref.PipelineID)
					}
				}
				if id > 0 {
					words = append([]string{fmt.Sprint(id)}, words...)
				}
			}
		}
		if call.Project == "" {
			ch, _, err := r.deps.Store.Channel(req.ChannelID)
			if err != nil {
				return call, fmt.Errorf("read channel settings: %w", err)
			}
			call.Project = ch.DefaultProject
		}
		if call.Project == "" {
			return call, usageError(cmd, "Which project? Name it (`group/app` or a GitLab link), or set this channel's default with `/ci channel project group/app`.")
		}
		if err := r.checkAllowed(req.ChannelID, call.Project); err != nil {
			return call, err
		}
	}
	if len(words) < cmd.MinArgs {
		return call, usageError(cmd, "`%s` needs more arguments.", cmd.Name)
	}
	if len(words) > cmd.MaxArgs {
		return call, usageError(cmd, "`%s` got too many arguments (`%s`).", cmd.Name, notify.Escape(truncateWord(words[cmd.MaxArgs])))
	}
	call.Args = words
	return call, nil
}

// checkAllowed refuses a project the channel is not allowed to act on
// (`/ci channel restrict`).
func (r *Router) checkAllowed(channel, project string) error {
	ch, _, err := r.deps.Store.Channel(channel)
	if err != nil {
		return fmt.Errorf("read channel settings: %w", err)
	}
	if len(ch.AllowedProjects) == 0 || slices.ContainsFunc(ch.AllowedProjects, func(p string) bool { return strings.EqualFold(p, project) }) {
		return nil
	}
	return userErrorf("This channel may act only on %s; an admin can change that with `/ci channel restrict`.", notify.Escape(strings.Join(ch.AllowedProjects, ", ")))
}

// checkHost refuses a pasted link to another GitLab than pipebot's: the
// same path there may be a different project.
func (r *Router) checkHost(ref lexRef) error {
	if ref.Host == "" || len(r.deps.GitLabHosts) == 0 {
		return nil
	}
	if slices.ContainsFunc(r.deps.GitLabHosts, func(h string) bool { return strings.EqualFold(h, ref.Host) }) {
		return nil
	}
	return userErrorf("That link points to %s, but pipebot works with %s.", notify.Escape(ref.Host), notify.Escape(strings.Join(r.deps.GitLabHosts, ", ")))
}

func optionList(opts []string) string {
	parts := make([]string, len(opts))
	for i, o := range opts {
		parts[i] = "`" + o + ":`"
	}
	return strings.Join(parts, ", ")
}

func truncateWord(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// roleOf is a user's role: admins from PIPEBOT_ADMINS always; otherwise the
// granted role, or the default role.
func (r *Router) roleOf(user string) (Role, error) {
	if slices.Contains(r.deps.Admins, user) {
		return RoleAdmin, nil
	}
	s, ok, err := r.deps.Store.Role(user)
	if err != nil {
		return 0, fmt.Errorf("read role of %s: %w", user, err)
	}
	if !ok {
		return r.deps.DefaultRole, nil
	}
	role, err := ParseRole(s)
	if err != nil {
		return r.deps.DefaultRole, nil
	}
	return role, nil
}

// audit records a mutating command. Variable values never reach the log:
// only their keys are kept.
func (r *Router) audit(log zerolog.Logger, call *Call, result string) {
	if call == nil || call.Cmd == nil || !call.Cmd.Mutating {
		return
	}
	_, err := r.deps.Store.AppendAudit(state.AuditEntry{
		Time:    r.deps.Now(),
		User:    call.Req.UserID,
		Channel: call.Req.ChannelID,
		Command: auditText(call),
		Project: r.auditProject(call),
		Result:  result,
	})
	if err != nil {
		log.Error().Err(err).Msg("write audit entry")
	}
}

// auditProject is the project an entry names: the call's, or for a
// command that takes one but resolves it later (var, subscribe), the
// channel's default.
func (r *Router) auditProject(call *Call) string {
	if call.Project != "" || !(call.Cmd.Project || strings.Contains(call.Cmd.Args, "[p") || strings.Contains(call.Cmd.Args, "[project")) {
		return call.Project
	}
	ch, _, err := r.deps.Store.Channel(call.Req.ChannelID)
	if err != nil {
		return ""
	}
	return ch.DefaultProject
}

func auditText(call *Call) string {
	parts := []string{call.Cmd.Name}
	parts = append(parts, call.Args...)
	for k, v := range call.Opts {
		if k == "confirm" {
			continue
		}
		parts = append(parts, k+":"+v)
	}
	for _, v := range call.Vars {
		parts = append(parts, v.Key+"=…")
	}
	slices.Sort(parts[1+len(call.Args):])
	return strings.Join(parts, " ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// userMessage is the sentence a user sees for err.
func userMessage(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	if m := refusalMessage(err); m != "" {
		return m
	}
	if errors.Is(err, notify.ErrNotInChannel) {
		return "I am not in this channel. Invite me with `/invite @pipebot` and try again."
	}
	if m := gitlab.UserMessage(err); m != "" {
		return notify.Escape(m)
	}
	return ""
}

// renderError turns err into a private reply: a UserError or GitLab error
// as its sentence (plus usage when asked), anything else as a generic
// sentence with a reference that the log line carries too.
func (r *Router) renderError(log zerolog.Logger, ref string, cmd *Command, call *Call, err error) Reply {
	var ue *UserError
	msg := userMessage(err)
	if errors.As(err, &ue) {
		return errorReply(ue.Msg, ue.Usage)
	}
	if msg != "" {
		log.Warn().Err(err).Msg("gitlab refused")
		return errorReply(fmt.Sprintf("%s (ref `%s`)", msg, ref), nil)
	}
	log.Error().Err(err).Msg("command failed")
	return errorReply(fmt.Sprintf("Something went wrong running `%s`; the details are in pipebot's log under ref `%s`.", cmd.Name, ref), nil)
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

func errorReply(msg string, usage *Command) Reply {
	text := ":warning: " + msg
	blocks := []slack.Block{notify.Section(text)}
	if usage != nil {
		blocks = append(blocks, notify.Section(usageText(usage)))
		text += "\n" + usageText(usage)
	}
	return Reply{Message: notify.Message{Text: text, Blocks: blocks}}
}

func usageText(c *Command) string {
	s := "Usage: `/ci " + c.Name
	if c.Args != "" {
		s += " " + notify.Escape(c.Args)
	}
	s += "`"
	if len(c.Examples) > 0 {
		s += "\nExample: `/ci " + notify.Escape(c.Examples[0]) + "`"
	}
	return s
}

// confirmCommand is the command the confirming button runs: the same call,
// with the project spelled out, and confirm:yes.
func confirmCommand(call *Call) string {
	parts := []string{call.Cmd.Name}
	if call.Project != "" {
		parts = append(parts, lexQuote(call.Project))
	}
	for _, a := range call.Args {
		parts = append(parts, lexQuote(a))
	}
	keys := make([]string, 0, len(call.Opts))
	for k := range call.Opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != "confirm" {
			parts = append(parts, lexQuote(k+":"+call.Opts[k]))
		}
	}
	for _, v := range call.Vars {
		parts = append(parts, lexQuote(v.Key+"="+v.Value))
	}
	return strings.Join(append(parts, "confirm:yes"), " ")
}

func confirmReply(question, command string) Reply {
	blocks := []slack.Block{
		notify.Section(":warning: " + question),
		slack.NewActionBlock("confirm",
			withStyle(notify.Button("confirm_yes", "Yes, do it", command), slack.StyleDanger),
			notify.Button("confirm_no", "No", "dismiss")),
	}
	return Reply{Message: notify.Message{Text: question, Blocks: blocks}}
}

func withStyle(b *slack.ButtonBlockElement, s slack.Style) *slack.ButtonBlockElement {
	b.Style = s
	return b
}

func blocksOf(b ...slack.Block) []slack.Block { return b }
