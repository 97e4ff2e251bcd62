package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// variableAPI is what the var commands ask GitLab.
type variableAPI interface {
	Variables(ctx context.Context, owner gitlab.VariableOwner) ([]gitlab.CIVariable, error)
	Variable(ctx context.Context, owner gitlab.VariableOwner, key, scope string) (gitlab.CIVariable, error)
	CreateVariable(ctx context.Context, owner gitlab.VariableOwner, in gitlab.SetVariable) (gitlab.CIVariable, error)
	UpdateVariable(ctx context.Context, owner gitlab.VariableOwner, in gitlab.SetVariable) (gitlab.CIVariable, error)
	DeleteVariable(ctx context.Context, owner gitlab.VariableOwner, key, scope string) error
}

// The var commands name a project like the others, or a group with the
// group:<path> option; they resolve it themselves (Project is false in
// their table entries) because a group is not a project.
func (r *Router) variableCommands() []*Command {
	return []*Command{
		{
			Name: "var list", Aliases: []string{"vars"}, Args: "[project|group:<group>]",
			Summary:  "CI/CD variables of a project or group: keys, flags and scopes, never values.",
			Examples: []string{"var list group/app", "vars group:platform"},
			Role:     RoleOperator, MaxArgs: 1, Options: []string{"group"}, Run: r.varList,
		},
		{
			Name: "var show", Args: "[project|group:<group>] <KEY> [scope:<environment>]",
			Summary:  "A variable's value, to you alone; masked and hidden values are never shown.",
			Examples: []string{"var show group/app DEPLOY_ZONE", "var show group:platform REGION scope:production"},
			Role:     RoleAdmin, MinArgs: 1, MaxArgs: 2, Options: []string{"group", "scope"}, Run: r.varShow,
		},
		{
			Name: "var set", Args: "[project|group:<group>] KEY[=value] [protected:] [masked:yes|no|hidden] [raw:] [scope:] [type:file] [description:]",
			Summary:  "Create or update a variable; without `=value` a private form asks for the value.",
			Examples: []string{"var set group/app DEPLOY_ZONE=us-west1", "var set group/app API_TOKEN masked:yes protected:yes", `var set group:platform REGION=eu scope:production description:"main region"`},
			Role:     RoleAdmin, MaxArgs: 2, Vars: true, Mutating: true,
			Options: []string{"group", "protected", "masked", "raw", "scope", "type", "description"}, Run: r.varSet,
		},
		{
			Name: "var delete", Args: "[project|group:<group>] <KEY> [scope:<environment>]",
			Summary:  "Delete a variable (asks first).",
			Examples: []string{"var delete group/app DEPLOY_ZONE", "var delete group:platform REGION scope:production"},
			Role:     RoleAdmin, MinArgs: 1, MaxArgs: 2, Options: []string{"group", "scope"}, Mutating: true,
			Confirm: func(c *Call) string {
				return fmt.Sprintf("Delete the variable `%s` of %s%s?", notify.Code(c.Arg(len(c.Args)-1)), notify.Code(targetWords(c)), scopeSuffix(c.Opt("scope", "")))
			},
			Run: r.varDelete,
		},
	}
}

// targetWords names the project or group a var command's words point at,
// for a question asked before anything is resolved.
func targetWords(c *Call) string {
	if g := c.Opt("group", ""); g != "" {
		return "group " + g
	}
	if len(c.Args) == 2 {
		return c.Args[0]
	}
	return "this channel's project"
}

func scopeSuffix(scope string) string {
	if scope == "" {
		return ""
	}
	return " (scope `" + notify.Code(scope) + "`)"
}

// varTarget resolves the project or group and returns the words left,
// which must number want.
func (r *Router) varTarget(c *Call, want int) (gitlab.VariableOwner, []string, error) {
	words := c.Args
	var owner gitlab.VariableOwner
	switch g, isGroup := c.Opts["group"]; {
	case isGroup:
		owner = gitlab.VariableOwner{Group: true, Path: strings.Trim(g, "/")}
		if owner.Path == "" || len(words) != want {
			return owner, nil, usageError(c.Cmd, "With `group:` name no project; give `%s` %d more word(s).", c.Cmd.Name, want)
		}
		for _, seg := range strings.Split(owner.Path, "/") {
			if !lexIsPathSegment(seg) {
				return owner, nil, usageError(c.Cmd, "`group:%s` is not a group path.", notify.Code(truncateWord(g)))
			}
		}
	case len(words) == want+1:
		ref, ok := lexProjectRef(words[0])
		if !ok {
			return owner, nil, usageError(c.Cmd, "`%s` is not a project path, a GitLab link or `group:&lt;path&gt;`.", notify.Code(truncateWord(words[0])))
		}
		if err := r.checkHost(ref); err != nil {
			return owner, nil, err
		}
		owner.Path, words = ref.Path, words[1:]
	case len(words) == want:
		ch, _, err := r.deps.Store.Channel(c.Req.ChannelID)
		if err != nil {
			return owner, nil, fmt.Errorf("read channel settings: %w", err)
		}
		if ch.DefaultProject == "" {
			return owner, nil, usageError(c.Cmd, "Which project? Name it, use `group:&lt;path&gt;`, or set this channel's default with `/ci channel project group/app`.")
		}
		owner.Path = ch.DefaultProject
	default:
		return owner, nil, usageError(c.Cmd, "`%s` needs a variable name.", c.Cmd.Name)
	}
	c.Project = owner.String()
	if !owner.Group {
		if err := r.checkAllowed(c.Req.ChannelID, owner.Path); err != nil {
			return owner, nil, err
		}
	}
	return owner, words, nil
}

func checkKey(c *Call, key string) error {
	if !lexIsVarKey(key) || len(key) > lexMaxVarKey {
		return usageError(c.Cmd, "`%s` is not a variable name (letters, digits and `_`).", notify.Code(truncateWord(key)))
	}
	return nil
}

func (r *Router) varList(ctx context.Context, c *Call) (Reply, error) {
	owner, _, err := r.varTarget(c, 0)
	if err != nil {
		return Reply{}, err
	}
	vars, err := c.GitLab.Variables(ctx, owner)
	if err != nil {
		return Reply{}, notFound(err, "%s", notify.Escape(owner.String()))
	}
	if len(vars) == 0 {
		return TextReply("%s has no CI/CD variables.", notify.Escape(owner.String())), nil
	}
	slices.SortStableFunc(vars, func(a, b gitlab.CIVariable) int {
		return strings.Compare(a.Key+"\x00"+a.EnvironmentScope, b.Key+"\x00"+b.EnvironmentScope)
	})
	lines := []string{fmt.Sprintf("*CI/CD variables of %s* (values are not shown)", notify.Escape(owner.String()))}
	for _, v := range vars {
		lines = append(lines, "• "+variableLine(v))
	}
	return chunkedReply(lines), nil
}

// variableLine describes a variable without its value.
func variableLine(v gitlab.CIVariable) string {
	parts := []string{"`" + notify.Code(v.Key) + "`", "scope `" + notify.Code(v.EnvironmentScope) + "`"}
	for _, f := range []struct {
		on   bool
		word string
	}{{v.Protected, "protected"}, {v.Hidden, "hidden"}, {v.Masked && !v.Hidden, "masked"}, {v.Raw, "raw"}, {v.VariableType == gitlab.VariableFile, "file"}} {
		if f.on {
			parts = append(parts, f.word)
		}
	}
	line := strings.Join(parts, " · ")
	if v.Description != "" {
		line += " — " + notify.Escape(v.Description)
	}
	return line
}

func (r *Router) varShow(ctx context.Context, c *Call) (Reply, error) {
	owner, words, err := r.varTarget(c, 1)
	if err != nil {
		return Reply{}, err
	}
	key, scope := words[0], c.Opt("scope", "")
	if err := checkKey(c, key); err != nil {
		return Reply{}, err
	}
	v, err := c.GitLab.Variable(ctx, owner, key, scope)
	if err != nil {
		return Reply{}, notFound(err, "the variable %s of %s%s", notify.Escape(key), notify.Escape(owner.String()), scopeSuffix(scope))
	}
	where := fmt.Sprintf("`%s` of %s (scope `%s`)", notify.Code(v.Key), notify.Code(owner.String()), notify.Code(v.EnvironmentScope))
	switch {
	case v.Hidden:
		return TextReply("%s is hidden: GitLab never returns its value, so no one can read it back.", where), nil
	case v.Masked:
		return TextReply("%s is masked, and pipebot never shows masked values.", where), nil
	case v.Value == "":
		return TextReply("%s is empty.", where), nil
	}
	// The only message that carries the value: ephemeral, to the requester.
	return TextReply("%s, shown to you alone:\n```%s```", where, notify.Escape(v.Value.Reveal())), nil
}

func parseBool(c *Call, name string) (*bool, error) {
	v, ok := c.Opts[name]
	if !ok {
		return nil, nil
	}
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		t := true
		return &t, nil
	case "no", "false", "off", "0":
		f := false
		return &f, nil
	}
	return nil, usageError(c.Cmd, "`%s:%s`: say yes or no.", name, notify.Code(v))
}

// setOptions reads var set's options into in.
func setOptions(c *Call, in *gitlab.SetVariable) error {
	var err error
	if in.Protected, err = parseBool(c, "protected"); err != nil {
		return err
	}
	if in.Raw, err = parseBool(c, "raw"); err != nil {
		return err
	}
	if strings.EqualFold(c.Opt("masked", ""), "hidden") {
		t := true
		in.Masked, in.MaskedAndHidden = &t, true
	} else if in.Masked, err = parseBool(c, "masked"); err != nil {
		return usageError(c.Cmd, "`masked:` is yes, no or hidden.")
	}
	if t, ok := c.Opts["type"]; ok {
		switch strings.ToLower(t) {
		case "file":
			s := gitlab.VariableFile
			in.VariableType = &s
		case "env", "env_var", "variable":
			s := gitlab.VariableEnv
			in.VariableType = &s
		default:
			return usageError(c.Cmd, "`type:%s`: use `type:file` or `type:env_var`.", notify.Code(t))
		}
	}
	if d, ok := c.Opts["description"]; ok {
		in.Description = &d
	}
	in.Scope = c.Opt("scope", "*")
	return nil
}

func (r *Router) varSet(ctx context.Context, c *Call) (Reply, error) {
	if len(c.Vars) > 1 {
		return Reply{}, usageError(c.Cmd, "Set one variable at a time.")
	}
	want := 1
	if len(c.Vars) == 1 {
		want = 0
	}
	owner, words, err := r.varTarget(c, want)
	if err != nil {
		return Reply{}, err
	}
	in := gitlab.SetVariable{}
	if err := setOptions(c, &in); err != nil {
		return Reply{}, err
	}
	if len(c.Vars) == 0 {
		if err := checkKey(c, words[0]); err != nil {
			return Reply{}, err
		}
		return r.openVarForm(ctx, c, owner, words[0])
	}
	in.Key, in.Value = c.Vars[0].Key, gitlab.Secret(c.Vars[0].Value)

	_, err = c.GitLab.Variable(ctx, owner, in.Key, in.Scope)
	created := errors.Is(err, gitlab.ErrNotFound)
	switch {
	case created:
		_, err = c.GitLab.CreateVariable(ctx, owner, in)
	case err != nil:
		return Reply{}, notFound(err, "%s", notify.Escape(owner.String()))
	case in.MaskedAndHidden:
		return Reply{}, userErrorf("`%s` already exists; GitLab lets a variable be hidden only when it is created. Delete it first, or use `masked:yes`.", notify.Code(in.Key))
	default:
		_, err = c.GitLab.UpdateVariable(ctx, owner, in)
	}
	if gitlab.IsValueInvalid(err) {
		return Reply{}, userErrorf("GitLab refused the value of `%s`: a masked value must be one line of at least 8 characters from the Base64 alphabet (letters, digits, `+ / = - _`) plus `@ : . ~` (with `raw:yes`, any 8 or more non-space characters).", notify.Code(in.Key))
	}
	if err != nil {
		return Reply{}, notFound(err, "%s", notify.Escape(owner.String()))
	}
	verb := "Updated"
	if created {
		verb = "Created"
	}
	return TextReply("%s `%s` of %s (scope `%s`). The value is not shown here.", verb, notify.Code(in.Key), notify.Code(owner.String()), notify.Code(in.Scope)), nil
}

func (r *Router) varDelete(ctx context.Context, c *Call) (Reply, error) {
	owner, words, err := r.varTarget(c, 1)
	if err != nil {
		return Reply{}, err
	}
	key, scope := words[0], c.Opt("scope", "")
	if err := checkKey(c, key); err != nil {
		return Reply{}, err
	}
	if err := c.GitLab.DeleteVariable(ctx, owner, key, scope); err != nil {
		return Reply{}, notFound(err, "the variable %s of %s%s", notify.Escape(key), notify.Escape(owner.String()), scopeSuffix(scope))
	}
	return TextReply("Deleted the variable `%s` of %s%s.", notify.Code(key), notify.Code(owner.String()), scopeSuffix(scope)), nil
}
