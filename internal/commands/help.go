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
		// Up to three words: `help schedule var set` shows the command's topic.
		Examples: []string{"help", "help pipeline"}, Role: RoleViewer, MaxArgs: 3, NoLink: true,
		Run: func(_ context.Context, c *Call) (Reply, error) {
			if len(c.Args) > 0 {
				noun, ok := r.helpTopicOf(c.Args)
				if !ok {
					return Reply{}, usageError(c.Cmd, "There is no help topic `%s`.", notify.Escape(truncateWord(strings.Join(c.Args, " "))))
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

// helpTopicOf finds the topic of `help <words…>`: a noun or alias, or the
// whole name of a command (`help pipeline run`).
func (r *Router) helpTopicOf(words []string) (string, bool) {
	if len(words) == 1 {
		return r.helpTopic(words[0])
	}
	if c, rest := r.lookup(words); c != nil && len(rest) == 0 {
		return noun(c.Name), true
	}
	return "", false
}

// help lists every topic with its commands' summaries, each command under
// its own noun whatever its place in the table.
func (r *Router) help(_ *Command) Reply {
	var lines []string
	lines = append(lines, "*pipebot* runs GitLab CI/CD from Slack. Type `/ci &lt;noun&gt; &lt;verb&gt; [project] [args…]`; `/ci help &lt;noun&gt;` shows one topic with examples.")
	var nouns []string
	byNoun := map[string][]*Command{}
	for _, c := range r.commands {
		if c.Name == "dismiss" {
			continue
		}
		n := noun(c.Name)
		if byNoun[n] == nil {
			nouns = append(nouns, n)
		}
		byNoun[n] = append(byNoun[n], c)
	}
	for _, n := range nouns {
		cmds := byNoun[n]
		lines = append(lines, "", "*"+n+"*")
		if len(cmds[0].Examples) > 0 {
			lines = append(lines, "e.g. `/ci "+notify.Escape(cmds[0].Examples[0])+"`")
		}
		for _, c := range cmds {
			lines = append(lines, fmt.Sprintf("`/ci %s%s` — %s", c.Name, notify.Escape(argsSuffix(c)), c.Summary))
		}
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
