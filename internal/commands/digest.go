package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipebot/pipebot/internal/insights"
	"github.com/pipebot/pipebot/internal/notify"
	"github.com/pipebot/pipebot/internal/state"
)

// digestStore keeps the channels' digests (the state.Store).
type digestStore interface {
	AddDigest(d state.Digest) (state.Digest, error)
	ChannelDigests(channel string) ([]state.Digest, error)
	DeleteDigest(channel string, id int64) (state.Digest, bool, error)
}

var _ digestStore = (*state.Store)(nil)

// memberChecker says whether pipebot is in a channel (notify.Slack).
type memberChecker interface {
	IsMember(ctx context.Context, channel string) (bool, error)
}

var _ memberChecker = (*notify.Slack)(nil)

// maxChannelDigests bounds the digests of one channel.
const maxChannelDigests = 20

const digestTimeLayout = "Mon 2 Jan 2006 15:04 MST"

func (r *Router) digestCommands() []*Command {
	return []*Command{
		{
			Name: "digest", Args: `[project] cron:"…" [tz:] [ref:] [days:]`,
			Summary:  "Post a CI report (stats and chart) to this channel on a schedule; 7 days unless `days:` says otherwise.",
			Examples: []string{`digest group/app cron:"0 9 * * 1"`, `digest group/app cron:"0 9 * * 1-5" tz:Europe/Berlin ref:main days:1`},
			Role:     RoleOperator, Project: true, Mutating: true, Options: []string{"cron", "tz", "ref", "days"},
			Run: r.digestCreate,
		},
		{
			Name: "digests", Summary: "This channel's CI digests with their next run.",
			Examples: []string{"digests"}, Role: RoleViewer, NoLink: true,
			Run: r.digestList,
		},
		{
			Name: "digest delete", Args: "<id>", Summary: "Stop one of this channel's CI digests (no confirmation).",
			Examples: []string{"digest delete 3"}, Role: RoleOperator, MinArgs: 1, MaxArgs: 1, Mutating: true, NoLink: true,
			Run: r.digestDelete,
		},
	}
}

func (r *Router) digests() (digestStore, error) {
	ds, ok := r.deps.Store.(digestStore)
	if !ok || r.deps.Insights == nil {
		return nil, userErrorf("CI digests are not available in this pipebot.")
	}
	return ds, nil
}

func (r *Router) digestCreate(ctx context.Context, c *Call) (Reply, error) {
	ds, err := r.digests()
	if err != nil {
		return Reply{}, err
	}
	spec, given := c.Opts["cron"]
	if !given {
		return Reply{}, usageError(c.Cmd, "When should the digest be posted? Give a cron, for example `cron:\"0 9 * * 1\"` (Mondays at 09:00).")
	}
	sched, err := parseCron(spec)
	if err != nil {
		return Reply{}, err
	}
	z, err := parseZone(c.Opt("tz", ""))
	if err != nil {
		return Reply{}, err
	}
	if len(sched.next(r.deps.Now(), z.Loc, 1)) == 0 {
		return Reply{}, userErrorf("`%s` never fires (no such date), so the digest would never be posted.", escapeCode(sched.spec))
	}
	days, err := daysOpt(c, insights.DefaultDigestDays)
	if err != nil {
		return Reply{}, err
	}
	existing, err := ds.ChannelDigests(c.Req.ChannelID)
	if err != nil {
		return Reply{}, err
	}
	if len(existing) >= maxChannelDigests {
		return Reply{}, userErrorf("This channel has %d digests, the most it may have; delete one first (`/ci digests` lists them).", len(existing))
	}
	// The person creating it must be able to read the project, so that no
	// one routes a project's figures into a channel through pipebot.
	proj, err := r.project(ctx, c.GitLab, c.Project)
	if err != nil {
		if m := userMessage(personNotFound(err, c.Actor)); m != "" {
			return Reply{}, userErrorf("I cannot set a digest for `%s`: %s", notify.Code(c.Project), m)
		}
		return Reply{}, err
	}
	if err := r.canRead(ctx, c, proj.Path, "", "set a digest for it"); err != nil {
		return Reply{}, err
	}
	if mc, ok := r.deps.Slack.(memberChecker); ok {
		if in, err := mc.IsMember(ctx, c.Req.ChannelID); err == nil && !in {
			return Reply{}, userErrorf("I am not in this channel, so I could not post the digest here. Invite me with `/invite @pipebot`, then run `/ci %s` again.", notify.Escape(c.Text))
		}
	}
	fields := strings.Fields(sched.spec)
	d, err := ds.AddDigest(state.Digest{
		Channel: c.Req.ChannelID, Project: proj.Path, Cron: sched.spec,
		Spec: strings.Join(append(fields[:4:4], sundaySeven(fields[4])), " "),
		TZ:   z.Name, Location: z.Loc.String(), Ref: c.Opt("ref", ""), Days: days, Creator: c.Req.UserID,
	})
	if err != nil {
		return Reply{}, err
	}
	c.Project = proj.Path
	return Reply{InChannel: true, Message: TextReply(":calendar: <@%s> set CI digest #%d here: %s", c.Req.UserID, d.ID, r.describeDigest(d)).Message}, nil
}

func (r *Router) digestList(_ context.Context, c *Call) (Reply, error) {
	ds, err := r.digests()
	if err != nil {
		return Reply{}, err
	}
	list, err := ds.ChannelDigests(c.Req.ChannelID)
	if err != nil {
		return Reply{}, err
	}
	if len(list) == 0 {
		return TextReply("This channel has no CI digests. Try `/ci digest group/app cron:\"0 9 * * 1\"`."), nil
	}
	lines := []string{"*CI digests of this channel*"}
	for _, d := range list {
		lines = append(lines, fmt.Sprintf("• #%d %s · by <@%s>", d.ID, r.describeDigest(d), d.Creator))
	}
	return chunkedReply(lines), nil
}

func (r *Router) digestDelete(_ context.Context, c *Call) (Reply, error) {
	ds, err := r.digests()
	if err != nil {
		return Reply{}, err
	}
	id, err := c.ID(0, "digest")
	if err != nil {
		return Reply{}, err
	}
	d, found, err := ds.DeleteDigest(c.Req.ChannelID, id)
	if err != nil {
		return Reply{}, err
	}
	if !found {
		return Reply{}, userErrorf("This channel has no CI digest #%d. `/ci digests` lists them.", id)
	}
	c.Project = d.Project
	return Reply{InChannel: true, Message: TextReply(":wastebasket: <@%s> deleted CI digest #%d (`%s`).", c.Req.UserID, d.ID, notify.Code(d.Project)).Message}, nil
}

// describeDigest is a digest's project, schedule, scope and next run.
func (r *Router) describeDigest(d state.Digest) string {
	s := fmt.Sprintf("`%s` at `%s` (%s), last %d days", notify.Code(d.Project), notify.Code(d.Cron), notify.Escape(d.TZ), d.Days)
	if d.Ref != "" {
		s += ", ref `" + notify.Code(d.Ref) + "`"
	}
	next, err := insights.NextSlot(d, r.deps.Now())
	switch {
	case err != nil:
		s += " · next run unknown"
	case next.IsZero():
		s += " · never runs"
	default:
		loc := time.UTC
		if l, err := time.LoadLocation(d.Location); err == nil {
			loc = l
		}
		s += " · next " + next.In(loc).Format(digestTimeLayout)
	}
	return s
}

// PostDigest builds digest d's report and posts it with its chart to the
// digest's channel: the insights.Runner's Post. When the report cannot be
// built (GitLab unreachable, the project gone) the channel gets one line
// saying so, and the error is returned for the log.
func (r *Router) PostDigest(ctx context.Context, d state.Digest, slot time.Time) error {
	poster, ok := r.deps.Slack.(channelPoster)
	if !ok || r.deps.Insights == nil {
		return errors.New("digests need a channel poster and insights")
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	loc, err := time.LoadLocation(d.Location)
	if err != nil {
		loc = time.UTC
	}
	q := insights.Query{Project: d.Project, Ref: d.Ref, Days: d.Days, Now: slot, Loc: loc}
	if q.Days == 0 {
		q.Days = insights.DefaultDigestDays
	}
	rep, _, err := r.deps.Insights.Build(ctx, q, nil)
	if err != nil {
		ref := newRef()
		why := userMessage(notFound(err, "the project %s", d.Project))
		if why == "" {
			why = "something went wrong"
		}
		_, perr := poster.Post(ctx, d.Channel, TextReply(":warning: CI digest #%d for `%s` could not be built: %s (ref `%s`)", d.ID, notify.Code(d.Project), strings.TrimSuffix(why, "."), ref).Message)
		return errors.Join(fmt.Errorf("digest %d (ref %s): %w", d.ID, ref, err), perr)
	}
	msg := statsMessage(fmt.Sprintf("CI digest #%d", d.ID), rep)
	where := statsPlace{channel: d.Channel, poster: poster}
	ts, err := where.show(ctx, "", msg)
	if err != nil {
		return fmt.Errorf("post digest %d: %w", d.ID, err)
	}
	if note := r.uploadChart(ctx, where, rep, d.Creator); note != "" {
		msg.Blocks = append(msg.Blocks, notify.Context(note))
		if _, err := where.show(ctx, ts, msg); err != nil {
			return fmt.Errorf("add chart note to digest %d: %w", d.ID, err)
		}
	}
	return nil
}
