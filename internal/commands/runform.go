package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// The run form's ids. A submission's state.values is keyed by block_id then
// action_id; response_action=errors is keyed by block_id.
const (
	callbackRun     = "pipebot_run"
	blockRunProject = "project"
	blockRunRef     = "ref"
	blockRunVars    = "variables"
	blockRunInputs  = "inputs"
	actionRun       = "value"
	// maxOptions is Slack's limit on an external select's options
	// (https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#external_select).
	maxOptions = 100
	// maxOptionValue is Slack's limit on an option's value.
	maxOptionValue = 150
	maxOptionText  = 75
)

// answerTimeout bounds the GitLab work behind an Answer.
const answerTimeout = 2500 * time.Millisecond

// refSearcher is what the run form asks GitLab.
type refSearcher interface {
	SearchRefs(ctx context.Context, project, search string, limit int) ([]gitlab.Ref, error)
}

var _ refSearcher = (*gitlab.Client)(nil)

// runFormWords says whether a `pipeline run` call should open the form: in
// Slack (a trigger_id), no ref given. A lone word is the project when the
// channel has no default project; with a default it is the ref (DESIGN §2).
func (r *Router) runFormProject(req slackapp.Request, rest []string) (project string, open bool, err error) {
	if req.Kind != slackapp.KindCommand || req.TriggerID == "" {
		return "", false, nil
	}
	a, err := lexSplit(rest)
	if err != nil || len(a.Words) > 1 {
		return "", false, nil
	}
	ch, _, err := r.deps.Store.Channel(req.ChannelID)
	if err != nil {
		return "", false, fmt.Errorf("read channel settings: %w", err)
	}
	switch {
	case len(a.Words) == 0:
		return ch.DefaultProject, true, nil
	case ch.DefaultProject == "":
		if ref, ok := lexProjectRef(a.Words[0]); ok {
			return ref.Path, true, nil
		}
	}
	return "", false, nil
}

// openRunForm opens the run form for the user who typed `/ci run` without a
// ref, straight from the request: a trigger_id lives 3 seconds.
func (r *Router) openRunForm(ctx context.Context, req slackapp.Request, project string) Reply {
	role, err := r.roleOf(req.UserID)
	if err != nil {
		r.log.Warn().Err(err).Str("user", req.UserID).Msg("read role")
		return errorReply("I could not read your role; try again in a moment.", nil)
	}
	if role < RoleOperator {
		return errorReply(fmt.Sprintf("`pipeline run` needs the %s role; you are a %s. An admin can grant it with `/ci role grant @you %s`.",
			RoleOperator, role, RoleOperator), nil)
	}
	if _, _, err := r.actorOf(ctx, req); err != nil {
		// No form for someone who may not act in GitLab.
		if reply, ok := r.identityReply(ctx, req, err); ok {
			return reply
		}
		r.log.Warn().Err(err).Str("user", req.UserID).Msg("resolve identity")
		return errorReply("I could not tell who you are in GitLab; try again in a moment.", nil)
	}
	meta, err := json.Marshal(viewMeta{Channel: req.ChannelID, Project: project})
	if err != nil {
		return errorReply("I could not open the form; try again.", nil)
	}
	if err := r.deps.Slack.OpenView(ctx, req.TriggerID, runFormView(project, string(meta))); err != nil {
		if errors.Is(err, notify.ErrExpiredTrigger) {
			return errorReply("Slack closed the window for opening the form (3 seconds); try again, or type the ref: `/ci run group/app main`.", nil)
		}
		r.log.Warn().Err(err).Str("user", req.UserID).Msg("open run form")
		return errorReply("I could not open the form; type the ref instead: `/ci run group/app main`.", nil)
	}
	return Reply{None: true}
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// runFormView is the modal: project, ref picker, variables, inputs.
func runFormView(project, meta string) slack.ModalViewRequest {
	proj := slack.NewPlainTextInputBlockElement(plain("group/app"), actionRun)
	proj.InitialValue = project
	ref := slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Type to search branches and tags"), actionRun)
	ref.MinQueryLength = new(int)
	vars := slack.NewPlainTextInputBlockElement(plain("DEPLOY_ZONE=us-west1"), actionRun)
	vars.Multiline = true
	inputs := slack.NewPlainTextInputBlockElement(plain("environment=staging"), actionRun)
	inputs.Multiline = true
	optional := func(b *slack.InputBlock) *slack.InputBlock { b.Optional = true; return b }
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plain("Run a pipeline"),
		Submit:          plain("Run"),
		Close:           plain("Cancel"),
		CallbackID:      callbackRun,
		PrivateMetadata: meta,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock(blockRunProject, plain("Project"), nil, proj),
			slack.NewInputBlock(blockRunRef, plain("Branch or tag"), nil, ref),
			optional(slack.NewInputBlock(blockRunVars, plain("Variables"), plain("One KEY=value per line."), vars)),
			optional(slack.NewInputBlock(blockRunInputs, plain("Inputs"), plain("One NAME=value per line (spec:inputs)."), inputs)),
		}},
	}
}

// Answer answers what Slack reads from the acknowledgement itself: the ref
// picker's options and the run form's submission (slackapp.Answerer).
func (r *Router) Answer(ctx context.Context, req slackapp.Request) (any, bool) {
	// Slack waits 3 seconds for this answer, transport included.
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	switch {
	case req.Kind == slackapp.KindOptions:
		return r.refOptions(ctx, req), false
	case req.Kind == slackapp.KindViewSubmission && req.View != nil && req.View.CallbackID == callbackRun:
		if errs := r.checkRunForm(ctx, req); len(errs) > 0 {
			return slack.NewErrorsViewSubmissionResponse(errs), false
		}
		return nil, true
	}
	return nil, true
}

var _ slackapp.Answerer = (*Router)(nil)

// formValue reads a text input or a select's chosen value from a view.
func formValue(v *slack.View, block string) string {
	if v == nil || v.State == nil {
		return ""
	}
	a := v.State.Values[block][actionRun]
	if a.SelectedOption.Value != "" {
		return a.SelectedOption.Value
	}
	return strings.TrimSpace(a.Value)
}

// refOptions lists the project's branches and tags matching what was typed:
// exact match first, then names starting with it, then the rest; at most
// 100. Anyone who could not run the pipeline gets no options.
func (r *Router) refOptions(ctx context.Context, req slackapp.Request) slack.OptionsResponse {
	empty := slack.OptionsResponse{Options: []*slack.OptionBlockObject{}}
	var meta viewMeta
	if req.View != nil {
		_ = json.Unmarshal([]byte(req.View.PrivateMetadata), &meta)
	}
	// Slack sends the modal's state with a block_suggestion; a payload
	// without it still searches the project the form was opened for.
	project := formValue(req.View, blockRunProject)
	if project == "" {
		project = meta.Project
	}
	if project == "" {
		return empty
	}
	if role, err := r.roleOf(req.UserID); err != nil || role < RoleOperator {
		return empty
	}
	if r.checkAllowed(meta.Channel, project) != nil {
		return empty
	}
	_, as, err := r.actorOf(ctx, req)
	if err != nil {
		return empty // the submission will say why
	}
	gl, ok := as.(refSearcher)
	if !ok {
		return empty
	}
	typed := strings.TrimSpace(req.Text)
	refs, err := gl.SearchRefs(ctx, project, typed, maxOptions)
	if err != nil {
		r.log.Info().Err(err).Str("user", req.UserID).Msg("ref search")
		return empty
	}
	return slack.OptionsResponse{Options: rankRefs(refs, typed)}
}

// rankRefs orders refs exact match, prefix match, the rest (each by name,
// branches before tags of the same name) and makes them Slack options.
func rankRefs(refs []gitlab.Ref, typed string) []*slack.OptionBlockObject {
	q := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(typed, "^"), "$"))
	rank := func(n string) int {
		n = strings.ToLower(n)
		switch {
		case n == q:
			return 0
		case strings.HasPrefix(n, q):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(refs, func(a, b gitlab.Ref) int {
		if d := rank(a.Name) - rank(b.Name); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := []*slack.OptionBlockObject{}
	seen := map[string]bool{}
	for _, ref := range refs {
		if len(out) == maxOptions {
			break
		}
		if len(ref.Name) > maxOptionValue || seen[ref.Name] {
			continue // a branch and a tag of one name are one ref to GitLab
		}
		seen[ref.Name] = true
		text := ref.Name
		if len([]rune(text)) > maxOptionText {
			text = string([]rune(text)[:maxOptionText-1]) + "…"
		}
		kind := "branch"
		if ref.Tag {
			kind = "tag"
		}
		out = append(out, slack.NewOptionBlockObject(ref.Name, plain(text), plain(kind)))
	}
	return out
}

// runFormCommand composes the command a run form's values stand for, as the
// user would type it, or the errors keyed by block.
func runFormCommand(v *slack.View) (string, map[string]string) {
	errs := map[string]string{}
	project, ref := formValue(v, blockRunProject), formValue(v, blockRunRef)
	if _, ok := lexProjectRef(project); !ok || strings.ContainsAny(project, " \t") {
		errs[blockRunProject] = "Give a project path like group/app or a GitLab project link."
	}
	if ref == "" {
		errs[blockRunRef] = "Pick a branch or tag."
	}
	parts := []string{"pipeline", "run", project, ref}
	seen := map[string]bool{}
	for i, line := range lines(formValue(v, blockRunVars)) {
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		switch {
		case !ok || !lexIsVarKey(key):
			errs[blockRunVars] = fmt.Sprintf("Line %d is not KEY=value (a key is letters, digits and _, not starting with a digit).", i+1)
		case len(key) > lexMaxVarKey:
			errs[blockRunVars] = fmt.Sprintf("Line %d: the key is longer than %d characters.", i+1, lexMaxVarKey)
		case seen[key]:
			errs[blockRunVars] = fmt.Sprintf("Line %d: %s is given more than once.", i+1, key)
		}
		if errs[blockRunVars] != "" {
			break
		}
		seen[key] = true
		parts = append(parts, key+"="+value)
	}
	seenIn := map[string]bool{}
	for i, line := range lines(formValue(v, blockRunInputs)) {
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		switch {
		case !ok || !lexIsInputName(name):
			errs[blockRunInputs] = fmt.Sprintf("Line %d is not NAME=value (a name is letters, digits, - and _).", i+1)
		case seenIn[name]:
			errs[blockRunInputs] = fmt.Sprintf("Line %d: %s is given more than once.", i+1, name)
		}
		if errs[blockRunInputs] != "" {
			break
		}
		seenIn[name] = true
		parts = append(parts, "input:"+name+"="+value)
	}
	if len(errs) > 0 {
		return "", errs
	}
	return lexQuote(parts...), nil
}

// lines splits a multi-line input into its non-blank lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkRunForm finds what would make the submitted form fail before the
// pipeline is created, so that the form stays open with the error on its
// field: malformed lines, the role, the channel's restriction, an unknown
// project or ref.
func (r *Router) checkRunForm(ctx context.Context, req slackapp.Request) map[string]string {
	_, errs := runFormCommand(req.View)
	if len(errs) > 0 {
		return errs
	}
	role, err := r.roleOf(req.UserID)
	if err != nil {
		return map[string]string{blockRunProject: "I could not read your role; try again in a moment."}
	}
	if role < RoleOperator {
		return map[string]string{blockRunProject: fmt.Sprintf("pipeline run needs the %s role; you are a %s. An admin can grant it with /ci role grant @you %s.", RoleOperator, role, RoleOperator)}
	}
	var meta viewMeta
	_ = json.Unmarshal([]byte(req.View.PrivateMetadata), &meta)
	project, ref := formValue(req.View, blockRunProject), formValue(req.View, blockRunRef)
	if pr, ok := lexProjectRef(project); ok {
		project = pr.Path
	}
	if err := r.checkAllowed(meta.Channel, project); err != nil {
		return map[string]string{blockRunProject: userMessage(err)}
	}
	actor, as, err := r.actorOf(ctx, req)
	if err != nil {
		var refused *identity.RefusedError
		switch {
		case errors.As(err, &refused):
			return map[string]string{blockRunProject: refused.Msg}
		case errors.Is(err, identity.ErrNotLinked), errors.Is(err, identity.ErrLinkRevoked):
			return map[string]string{blockRunProject: "Connect your GitLab account first: run /ci login, then run the pipeline again."}
		}
		return map[string]string{blockRunProject: "I could not tell who you are in GitLab; try again in a moment."}
	}
	if _, err := r.project(ctx, as, project); err != nil {
		if actor.Person() {
			return map[string]string{blockRunProject: fmt.Sprintf("I can't find the project %s (or you, @%s, can't see it in GitLab).", project, actor.Username)}
		}
		return map[string]string{blockRunProject: fmt.Sprintf("I can't find the project %s (or pipebot's GitLab token can't see it).", project)}
	}
	gl, ok := as.(refSearcher)
	if !ok {
		return nil
	}
	refs, err := gl.SearchRefs(ctx, project, "^"+ref+"$", 2)
	if err != nil {
		return nil // GitLab will say why when the command runs
	}
	for _, x := range refs {
		if x.Name == ref {
			return nil
		}
	}
	return map[string]string{blockRunRef: fmt.Sprintf("%s has no branch or tag %s.", project, ref)}
}

// handleRunForm runs a submitted run form as the command it composes, through
// the router like a typed command: role check, audit, watch.
func (r *Router) handleRunForm(ctx context.Context, req slackapp.Request) {
	var meta viewMeta
	if err := json.Unmarshal([]byte(req.View.PrivateMetadata), &meta); err != nil {
		r.log.Warn().Str("user", req.UserID).Msg("run form without usable metadata")
		return
	}
	text, errs := runFormCommand(req.View)
	if len(errs) > 0 {
		return // answered with the errors; the form stayed open
	}
	req.ChannelID, req.Text = meta.Channel, text
	reply := r.dispatch(ctx, req, nil)
	if !reply.None {
		r.deliver(ctx, req, reply)
	}
}
