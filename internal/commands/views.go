package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// Modal identifiers. The value field's block and action ids are how the
// submission's state.values finds what the user typed.
const (
	callbackVarSet = "pipebot_var_set"
	blockVarValue  = "value"
	actionVarValue = "value"
)

// viewMeta is a modal's private_metadata: where to answer and the command
// the submitted value completes. It holds no secret: the value arrives
// only with the submission and goes straight to GitLab.
type viewMeta struct {
	Channel string `json:"channel"`
	Command string `json:"command"`
	// Project is the run form's prefilled project: the ref picker falls
	// back to it when a block_suggestion carries no typed project.
	Project string `json:"project,omitempty"`
}

// openVarForm opens the modal that asks for a variable's value. It runs
// straight from the request because a trigger_id lives 3 seconds
// (https://docs.slack.dev/interactivity/handling-user-interaction#modal_responses).
func (r *Router) openVarForm(ctx context.Context, c *Call, owner gitlab.VariableOwner, key string) (Reply, error) {
	if c.Req.TriggerID == "" {
		return Reply{}, userErrorf("I can't open a form from here; give the value inline instead: `/ci var set %s %s=…` (only you see a slash command).", notify.Code(owner.String()), notify.Code(key))
	}
	parts := []string{c.Cmd.Name}
	if owner.Group {
		parts = append(parts, lexQuote("group:"+owner.Path))
	} else {
		parts = append(parts, lexQuote(owner.Path))
	}
	parts = append(parts, key)
	names := make([]string, 0, len(c.Opts))
	for k := range c.Opts {
		if k != "group" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		parts = append(parts, lexQuote(k+":"+c.Opts[k]))
	}
	meta, err := json.Marshal(viewMeta{Channel: c.Req.ChannelID, Command: strings.Join(parts, " ")})
	if err != nil {
		return Reply{}, fmt.Errorf("encode modal metadata: %w", err)
	}
	input := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "The value", false, false), actionVarValue)
	input.Multiline = true
	view := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Set a CI/CD variable", false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Save", false, false),
		Close:           slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		CallbackID:      callbackVarSet,
		PrivateMetadata: string(meta),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			notify.Section(fmt.Sprintf("Value of `%s` for %s (scope `%s`). Only GitLab receives it; it is not posted anywhere.",
				notify.Code(key), notify.Code(owner.String()), notify.Code(c.Opt("scope", "*")))),
			slack.NewInputBlock(blockVarValue, slack.NewTextBlockObject(slack.PlainTextType, key, false, false), nil, input),
		}},
	}
	if err := r.deps.Slack.OpenView(ctx, c.Req.TriggerID, view); err != nil {
		if errors.Is(err, notify.ErrExpiredTrigger) {
			return Reply{}, userErrorf("Slack closed the window for opening the form (3 seconds); try again, or give the value inline: `/ci var set %s %s=…`.", notify.Code(owner.String()), notify.Code(key))
		}
		return Reply{}, fmt.Errorf("open variable form: %w", err)
	}
	return Reply{None: true}, nil
}

// handleView runs a submitted modal as the user who submitted it: the
// command in its metadata goes through the router like a typed one (role
// re-checked, audited without the value), completed by the submitted value.
func (r *Router) handleView(ctx context.Context, req slackapp.Request) {
	log := r.log.With().Str("user", req.UserID).Str("kind", req.Kind.String()).Logger()
	if req.View != nil && req.View.CallbackID == callbackRun {
		r.handleRunForm(ctx, req) // runform.go
		return
	}
	if req.View == nil || req.View.CallbackID != callbackVarSet {
		log.Debug().Msg("view submission ignored")
		return
	}
	var meta viewMeta
	if err := json.Unmarshal([]byte(req.View.PrivateMetadata), &meta); err != nil || meta.Command == "" {
		log.Warn().Msg("view submission without usable metadata")
		return
	}
	value := ""
	if req.View.State != nil {
		value = req.View.State.Values[blockVarValue][actionVarValue].Value
	}
	req.ChannelID, req.Text = meta.Channel, meta.Command
	reply := r.dispatch(ctx, req, func(call *Call) error {
		if call.Cmd.Name != "var set" || len(call.Vars) != 0 || len(call.Args) == 0 {
			return errors.New("modal metadata is not a var set command")
		}
		key := call.Args[len(call.Args)-1]
		call.Args = call.Args[:len(call.Args)-1]
		call.Vars = []lexVar{{Key: key, Value: value}}
		return nil
	})
	if !reply.None {
		r.deliver(ctx, req, reply)
	}
}
