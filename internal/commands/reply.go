package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

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
	if errors.Is(err, state.ErrUnavailable) {
		return "pipebot's database is unreachable right now, and this needs it; try again in a minute."
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
