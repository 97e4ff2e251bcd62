package commands

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/pipebot/pipebot/internal/state"
)

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
		GitLab:  call.Actor.String(),
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
