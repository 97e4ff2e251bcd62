package notify

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pipebot/pipebot/internal/gitlab"
)

// Event is what a subscription can ask to hear about.
type Event string

// Subscription events (DESIGN §4).
const (
	EventFailed   Event = "failed"
	EventSuccess  Event = "success"
	EventCanceled Event = "canceled"
	EventFixed    Event = "fixed"  // success after a failure on the same ref
	EventBroken   Event = "broken" // failure after a success on the same ref
	EventManual   Event = "manual" // blocked waiting for a manual job
	EventRunning  Event = "running"
	EventCreated  Event = "created"
)

// AllEvents lists every event in the order help shows them.
var AllEvents = []Event{EventFailed, EventSuccess, EventCanceled, EventFixed, EventBroken, EventManual, EventRunning, EventCreated}

// DefaultEvents is what a subscription without on: hears.
var DefaultEvents = []Event{EventFailed, EventFixed, EventManual}

// SourceParent is the source of a child pipeline; children fold into their
// parent's card unless a subscription names this source.
const SourceParent = "parent_pipeline"

// knownSources are GitLab's pipeline sources (doc/ci/jobs/job_rules.md,
// CI_PIPELINE_SOURCE).
var knownSources = []string{"push", "web", "trigger", "schedule", "api", "external", "pipeline", "chat", "webide",
	"merge_request_event", "external_pull_request_event", SourceParent, "ondemand_dast_scan",
	"ondemand_dast_validation", "security_orchestration_policy", "container_registry_push"}

// FilterError is a filter the user wrote wrong; its message is for them.
type FilterError struct{ Msg string }

func (e *FilterError) Error() string { return e.Msg }

// Filter is a subscription's filters, parsed.
type Filter struct {
	On      []Event
	Refs    []string // globs; "!glob" excludes
	Sources []string
	Users   []string // usernames; "!name" excludes
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// ParseFilter reads the on:, ref:, source: and user: option values
// (comma-separated lists) and checks them.
func ParseFilter(on, ref, source, user string) (Filter, error) {
	var f Filter
	for _, e := range splitList(strings.ToLower(on)) {
		if !slices.Contains(AllEvents, Event(e)) {
			return Filter{}, &FilterError{Msg: fmt.Sprintf("`%s` is not an event; use %s.", Code(e), eventList())}
		}
		if !slices.Contains(f.On, Event(e)) {
			f.On = append(f.On, Event(e))
		}
	}
	for _, g := range splitList(ref) {
		if _, err := path.Match(strings.TrimPrefix(g, "!"), ""); err != nil || strings.TrimPrefix(g, "!") == "" {
			return Filter{}, &FilterError{Msg: fmt.Sprintf("`%s` is not a valid ref glob.", Code(g))}
		}
		f.Refs = append(f.Refs, g)
	}
	for _, s := range splitList(strings.ToLower(source)) {
		if !slices.Contains(knownSources, s) {
			return Filter{}, &FilterError{Msg: fmt.Sprintf("`%s` is not a pipeline source; use %s.", Code(s), strings.Join(knownSources[:12], ", "))}
		}
		f.Sources = append(f.Sources, s)
	}
	for _, u := range splitList(user) {
		u = strings.TrimPrefix(u, "@")
		if strings.TrimPrefix(u, "!") == "" {
			return Filter{}, &FilterError{Msg: "`user:` needs usernames, like `user:alice,!renovate-bot`."}
		}
		f.Users = append(f.Users, u)
	}
	return f, nil
}

func eventList() string {
	parts := make([]string, len(AllEvents))
	for i, e := range AllEvents {
		parts[i] = string(e)
	}
	return strings.Join(parts, ", ")
}

// Events returns the filter's events, or the defaults.
func (f Filter) Events() []Event {
	if len(f.On) == 0 {
		return DefaultEvents
	}
	return f.On
}

// Wants reports whether any of events is one the filter asks for.
func (f Filter) Wants(events []Event) bool {
	for _, e := range events {
		if slices.Contains(f.Events(), e) {
			return true
		}
	}
	return false
}

// includeExclude applies a list of patterns where "!p" excludes: a value
// passes when it matches no exclude and, if there are includes, one of them.
func includeExclude(list []string, v string, match func(pattern, v string) bool) bool {
	hasInclude, included := false, false
	for _, p := range list {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if match(ex, v) {
				return false
			}
			continue
		}
		hasInclude = true
		if match(p, v) {
			included = true
		}
	}
	return !hasInclude || included
}

func globMatch(pattern, ref string) bool {
	ok, _ := path.Match(pattern, ref)
	return ok || pattern == ref
}

// MatchRef reports whether ref passes the ref: globs.
func (f Filter) MatchRef(ref string) bool { return includeExclude(f.Refs, ref, globMatch) }

// MatchSource reports whether source passes source:. Child pipelines pass
// only when parent_pipeline is named: by default they fold into the parent.
func (f Filter) MatchSource(source string) bool {
	if source == SourceParent {
		return slices.Contains(f.Sources, SourceParent)
	}
	return len(f.Sources) == 0 || slices.Contains(f.Sources, source)
}

// NeedsUser reports whether MatchUser needs the pipeline's username.
func (f Filter) NeedsUser() bool { return len(f.Users) > 0 }

// MatchUser reports whether username passes user:.
func (f Filter) MatchUser(username string) bool {
	return includeExclude(f.Users, username, func(p, v string) bool { return strings.EqualFold(p, v) })
}

// EventsOf returns the events a pipeline in its current status is: prev is
// the status its ref ended with before it ("" when unknown), for fixed and
// broken.
func EventsOf(status gitlab.Status, prev string) []Event {
	switch status {
	case gitlab.StatusSuccess:
		if prev == string(gitlab.StatusFailed) {
			return []Event{EventSuccess, EventFixed}
		}
		return []Event{EventSuccess}
	case gitlab.StatusFailed:
		if prev == string(gitlab.StatusSuccess) {
			return []Event{EventFailed, EventBroken}
		}
		return []Event{EventFailed}
	case gitlab.StatusCanceled:
		return []Event{EventCanceled}
	case gitlab.StatusManual:
		return []Event{EventManual}
	case gitlab.StatusRunning:
		return []Event{EventRunning}
	case gitlab.StatusCreated, gitlab.StatusPending, gitlab.StatusWaitingForResource, gitlab.StatusPreparing:
		return []Event{EventCreated}
	}
	return nil
}
