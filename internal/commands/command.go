// Package commands owns pipebot's command language: parsing `/ci …` text,
// the command table (usage, summary, examples, required role, handler), the
// router that checks arguments and roles, runs handlers with a timeout and
// turns errors into one clear sentence, and the replies handlers render.
package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pipebot/pipebot/internal/identity"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

// Role is a Slack user's level of access in pipebot.
type Role int

// Roles, in increasing order of power.
const (
	RoleViewer Role = iota + 1
	RoleOperator
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole reads "viewer", "operator" or "admin".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("%q is not a role (viewer, operator or admin)", s)
}

// Command is one entry of the command table: everything about a command
// lives here, and help is generated from it.
type Command struct {
	Name     string   // "pipeline list"
	Aliases  []string // other spellings of the whole name: "pipelines"
	Args     string   // usage after the name: "[project] <id>"
	Summary  string
	Examples []string // text after /ci; a test checks each parses back to this command
	Role     Role
	// Project: the command acts on a project named by path or URL, or the
	// channel's default project.
	Project bool
	// MinArgs and MaxArgs bound the positional words after the project.
	MinArgs, MaxArgs int
	Options          []string // allowed option names
	Vars             bool     // accepts KEY=value
	Inputs           bool     // accepts input:NAME=value (CI/CD inputs)
	Mutating         bool     // written to the audit log
	// NoLink: the command is about pipebot itself and runs without a
	// GitLab identity (Call.GitLab is nil then in linked and sudo modes).
	NoLink bool
	// IDFrom says which id a pasted GitLab URL supplies as the first
	// positional argument: "pipeline" or "job"; "pipeline:" puts the link's
	// pipeline id into the pipeline: option instead.
	IDFrom string
	// Confirm, when set, is the question asked before the command runs; it
	// runs once the user clicks the confirming button (or types confirm:yes).
	Confirm func(c *Call) string
	Run     func(ctx context.Context, c *Call) (Reply, error)
}

// Call is one parsed invocation of a command.
type Call struct {
	Req     slackapp.Request
	Cmd     *Command
	Role    Role
	Project string // path (or numeric id) of the project; "" when the command takes none
	Args    []string
	Opts    map[string]string
	Vars    []lexVar
	Inputs  []lexInput
	Text    string // the command as typed, normalised
	// GitLab is the client of whoever acts in GitLab for this user (the
	// router resolves it: pipebot's token, the user's linked account, or
	// sudo); nil for a NoLink command whose user has no identity.
	GitLab gitlabAPI
	// Actor says who GitLab acts as (for the audit log and messages).
	Actor identity.Actor
}

// Arg returns positional argument i, or "".
func (c *Call) Arg(i int) string {
	if i < len(c.Args) {
		return c.Args[i]
	}
	return ""
}

// ID reads positional argument i as a GitLab id.
func (c *Call) ID(i int, what string) (int64, error) {
	s := c.Arg(i)
	if s == "" {
		return 0, usageError(c.Cmd, "Which %s? Give its id.", what)
	}
	id, ok := lexInt(s)
	if !ok {
		return 0, usageError(c.Cmd, "`%s` is not a %s id (a positive number, like 42).", notify.Escape(truncateWord(s)), what)
	}
	return id, nil
}

// Opt returns an option's value or def.
func (c *Call) Opt(name, def string) string {
	if v, ok := c.Opts[name]; ok {
		return v
	}
	return def
}

// IntOpt reads a numeric option bounded to [1, max], default def.
func (c *Call) IntOpt(name string, def, max int) (int, error) {
	v, ok := c.Opts[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, usageError(c.Cmd, "`%s:%s` needs a positive number.", name, notify.Escape(truncateWord(v)))
	}
	if n > max {
		n = max
	}
	return n, nil
}

func firstExample(cmd *Command) string {
	if cmd != nil && len(cmd.Examples) > 0 {
		return cmd.Examples[0]
	}
	if cmd != nil {
		return cmd.Name
	}
	return "help"
}

// Reply is what a handler answers. By default it is shown only to the user
// who asked (ephemeral).
type Reply struct {
	notify.Message
	InChannel       bool
	ReplaceOriginal bool
	DeleteOriginal  bool
	// None means there is nothing to send.
	None bool
}

// TextReply is an ephemeral reply of one mrkdwn paragraph.
func TextReply(format string, args ...any) Reply {
	text := fmt.Sprintf(format, args...)
	return Reply{Message: notify.Message{Text: text, Blocks: blocksOf(notify.Section(text))}}
}

// UserError is an error whose message is meant for the user as it is.
type UserError struct {
	Msg string
	// Usage, when set, adds the command's usage and an example.
	Usage *Command
}

func (e *UserError) Error() string { return e.Msg }

func userErrorf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

func usageError(cmd *Command, format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...), Usage: cmd}
}
