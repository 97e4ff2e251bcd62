package commands

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/slackapp"
)

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
	"digest":        {"digest", "digests"}, "digests": {"digest", "digests"},
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
	call.Inputs = a.Inputs
	if len(call.Inputs) > 0 && !cmd.Inputs {
		return call, usageError(cmd, "`%s` takes no inputs (you gave `input:%s=…`).", cmd.Name, call.Inputs[0].Name)
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
