package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/pipebot/pipebot/internal/notify"
)

// table is the whole command table.
func (r *Router) table() []*Command {
	var cmds []*Command
	cmds = append(cmds, r.pipelineCommands()...)
	cmds = append(cmds, r.triggerCommands()...)
	cmds = append(cmds, r.variableCommands()...)
	cmds = append(cmds, r.scheduleCommands()...)
	cmds = append(cmds, r.jobCommands()...)
	cmds = append(cmds, r.adminCommands()...)
	cmds = append(cmds, r.subscribeCommands()...)
	cmds = append(cmds, r.statsCommands()...)
	cmds = append(cmds, r.digestCommands()...)
	cmds = append(cmds, r.identityCommands()...)
	cmds = append(cmds, &Command{
		Name: "help", Args: "[noun]", Summary: "What pipebot can do; `help pipeline` for one topic.",
		Examples: []string{"help", "help pipeline"}, Role: RoleViewer, MaxArgs: 1, NoLink: true,
		Run: func(_ context.Context, c *Call) (Reply, error) {
			if word := c.Arg(0); word != "" {
				noun, ok := r.helpTopic(word)
				if !ok {
					return Reply{}, usageError(c.Cmd, "There is no help topic `%s`.", notify.Escape(truncateWord(word)))
				}
				return r.helpNoun(noun, ""), nil
			}
			return r.help(nil), nil
		},
	})
	return cmds
}

func noun(name string) string {
	n, _, _ := strings.Cut(name, " ")
	return n
}

// help lists every topic with its commands' summaries.
func (r *Router) help(_ *Command) Reply {
	var lines []string
	lines = append(lines, "*pipebot* runs GitLab CI/CD from Slack. Type `/ci &lt;noun&gt; &lt;verb&gt; [project] [args…]`; `/ci help &lt;noun&gt;` shows one topic with examples.")
	seen := map[string]bool{}
	for _, c := range r.commands {
		if c.Name == "dismiss" {
			continue
		}
		n := noun(c.Name)
		if !seen[n] {
			seen[n] = true
			lines = append(lines, "", "*"+n+"*")
			if len(c.Examples) > 0 {
				lines = append(lines, "e.g. `/ci "+notify.Escape(c.Examples[0])+"`")
			}
		}
		lines = append(lines, fmt.Sprintf("`/ci %s%s` — %s", c.Name, notify.Escape(argsSuffix(c)), c.Summary))
	}
	lines = append(lines, "", "A project is `group/app` or a GitLab link; leave it out where the channel has a default (`/ci channel project group/app`).")
	return chunkedReply(lines)
}

func argsSuffix(c *Command) string {
	if c.Args == "" {
		return ""
	}
	return " " + c.Args
}

// helpNoun shows one topic: usage, summary, examples and required role.
func (r *Router) helpNoun(n, lead string) Reply {
	var lines []string
	if lead != "" {
		lines = append(lines, ":warning: "+lead)
	}
	lines = append(lines, "*"+n+"*")
	for _, c := range r.nounCommands(n) {
		line := fmt.Sprintf("`/ci %s%s` — %s _(%s)_", c.Name, notify.Escape(argsSuffix(c)), c.Summary, c.Role)
		if len(c.Aliases) > 0 {
			line += " Also: `" + strings.Join(c.Aliases, "`, `") + "`."
		}
		for _, ex := range c.Examples {
			line += "\n    e.g. `/ci " + notify.Escape(ex) + "`"
		}
		lines = append(lines, line)
	}
	return chunkedReply(lines)
}
