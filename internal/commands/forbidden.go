package commands

import (
	"context"
	"errors"
	"time"

	"github.com/pipebot/pipebot/internal/gitlab"
	"github.com/pipebot/pipebot/internal/notify"
)

// refReader finds a ref and whether it is protected.
type refReader interface {
	SearchRefs(ctx context.Context, project, search string, limit int) ([]gitlab.Ref, error)
}

var _ refReader = (*gitlab.Client)(nil)

// refused reports whether GitLab turned the person down for lack of
// permission: 403, or the pipeline chain's 400 "You do not have sufficient
// permission to run a pipeline on '<ref>'".
func refused(err error) bool {
	if errors.Is(err, gitlab.ErrForbidden) {
		return true
	}
	return gitlab.IsPipelineRefused(err)
}

// forbiddenActions says, per command, what a person was not allowed to do.
// A ref-scoped action names the ref it touched when the refusal is about
// a protected branch.
var forbiddenActions = map[string]struct {
	verb string
	ref  string // "arg" (the ref argument), "pipeline" or "job" (looked up), "" (none)
}{
	"pipeline run":        {"run pipelines", "arg"},
	"pipeline retry":      {"retry pipelines", "pipeline"},
	"pipeline cancel":     {"cancel pipelines", "pipeline"},
	"pipeline delete":     {"delete pipelines", ""},
	"pipeline vars":       {"read pipeline variables", ""},
	"pipeline list":       {"see pipelines", ""},
	"pipeline show":       {"see pipelines", ""},
	"pipeline watch":      {"see pipelines", ""},
	"job list":            {"see jobs", ""},
	"job show":            {"see jobs", ""},
	"job log":             {"read job logs", ""},
	"job artifacts":       {"download job artifacts", ""},
	"job keep":            {"keep job artifacts", ""},
	"job retry":           {"retry jobs", "job"},
	"job cancel":          {"cancel jobs", "job"},
	"job play":            {"run manual jobs", "job"},
	"job erase":           {"erase jobs", "job"},
	"trigger list":        {"see pipeline triggers", ""},
	"trigger create":      {"create pipeline triggers", ""},
	"trigger delete":      {"delete pipeline triggers", ""},
	"trigger run":         {"run pipelines with triggers", ""},
	"var list":            {"read CI/CD variables", ""},
	"var show":            {"read CI/CD variables", ""},
	"var set":             {"change CI/CD variables", ""},
	"var delete":          {"delete CI/CD variables", ""},
	"schedule list":       {"see pipeline schedules", ""},
	"schedule show":       {"see pipeline schedules", ""},
	"schedule create":     {"create pipeline schedules", ""},
	"schedule update":     {"change pipeline schedules", ""},
	"schedule delete":     {"delete pipeline schedules", ""},
	"schedule run":        {"run pipeline schedules", ""},
	"schedule own":        {"take over pipeline schedules", ""},
	"schedule var set":    {"change schedule variables", ""},
	"schedule var delete": {"change schedule variables", ""},
	"subscribe":           {"see the pipelines", ""},
	"channel project":     {"see", ""},
	"channel restrict":    {"see", ""},
}

// explainRefusal turns GitLab's refusal of a person (linked or sudo) into
// one sentence naming what they lack, e.g. "you (@alice) can't run
// pipelines on protected branch `main` in group/app". GitLab is asked, as
// the person, whether the ref is protected (best effort, 5 s).
func (r *Router) explainRefusal(ctx context.Context, c *Call, err error) error {
	if !c.Actor.Person() || c.GitLab == nil || !refused(err) {
		return err
	}
	act, ok := forbiddenActions[c.Cmd.Name]
	if !ok {
		act.verb = "run `" + c.Cmd.Name + "`"
	}
	where := notify.Escape(c.Project)
	if where == "" {
		where = "that project"
	}
	who := "you (@" + notify.Escape(c.Actor.Username) + ")"
	ref := ""
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch act.ref {
	case "arg":
		ref = c.Arg(0)
	case "pipeline":
		if id, ierr := c.ID(0, "pipeline"); ierr == nil {
			if p, perr := c.GitLab.Pipeline(lctx, c.Project, id); perr == nil {
				ref = p.Ref
			}
		}
	case "job":
		if id, ierr := c.ID(0, "job"); ierr == nil {
			if j, jerr := c.GitLab.Job(lctx, c.Project, id); jerr == nil {
				ref = j.Ref
			}
		}
	}
	if ref != "" {
		if rr, ok := c.GitLab.(refReader); ok {
			if refs, serr := rr.SearchRefs(lctx, c.Project, "^"+ref+"$", 2); serr == nil {
				for _, x := range refs {
					if x.Name == ref && x.Protected && !x.Tag {
						return userErrorf("GitLab refused: %s can't %s on protected branch `%s` in %s.", who, act.verb, notify.Code(ref), where)
					}
				}
			}
		}
		return userErrorf("GitLab refused: %s can't %s on `%s` in %s (your role in the project does not allow it).", who, act.verb, notify.Code(ref), where)
	}
	return userErrorf("GitLab refused: %s can't %s in %s (your role in the project does not allow it).", who, act.verb, where)
}
