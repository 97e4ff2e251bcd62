package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

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
		s += " · next " + next.In(digestZone(d)).Format(digestTimeLayout)
	}
	return s
}

// digestZone is the zone digest d's times are shown and built in: its
// stored zone, UTC when that no longer loads.
func digestZone(d state.Digest) *time.Location {
	if loc, err := time.LoadLocation(d.Location); err == nil {
		return loc
	}
	return time.UTC
}

// digestSlack is where digests are posted: Deps.DigestSlack (the leader's
// gated client on replicas), else Deps.Slack.
func (r *Router) digestSlack() any {
	if r.deps.DigestSlack != nil {
		return r.deps.DigestSlack
	}
	return r.deps.Slack
}

// digestClockSkew is how far behind pipebot's clock Slack's may be when a
// digest's earlier post is looked for.
const digestClockSkew = 15 * time.Minute

// MetaDigest is the metadata event type stamped on a digest's message, so
// that a slot whose post was interrupted is not posted twice.
const MetaDigest = "pipebot_digest"

// metadataFinder finds a message pipebot posted earlier by its metadata.
type metadataFinder interface {
	FindByMetadata(ctx context.Context, channel, threadTS string, oldest time.Time, eventType, key, value string) (string, bool, error)
}

var _ metadataFinder = (*notify.Slack)(nil)

// digestSlotID names one slot of one digest in a message's metadata.
func digestSlotID(d state.Digest, slot time.Time) string {
	return fmt.Sprintf("%d/%d", d.ID, slot.Unix())
}

// PostDigest builds digest d's report for slot and posts it with its chart
// to the digest's channel: the insights.Runner's Post. It is idempotent: the
// message carries the slot in its metadata, and a slot already in the
// channel (a post cut short by a crash, a retry) is not posted again. When
// the report cannot be built (GitLab unreachable) nothing is posted and the
// error is returned, so the runner tries again; DigestGivenUp tells the
// channel when it stops trying.
func (r *Router) PostDigest(ctx context.Context, d state.Digest, slot time.Time) error {
	poster, ok := r.digestSlack().(channelPoster)
	if !ok || r.deps.Insights == nil {
		return errors.New("digests need a channel poster and insights")
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	id := digestSlotID(d, slot)
	if f, ok := r.digestSlack().(metadataFinder); ok {
		// Posted no earlier than the slot by pipebot's clock; Slack's may
		// be behind it.
		_, found, err := f.FindByMetadata(ctx, d.Channel, "", slot.Add(-digestClockSkew), MetaDigest, "slot", id)
		if err != nil {
			return fmt.Errorf("look for digest %d in %s: %w", d.ID, d.Channel, err)
		}
		if found {
			return nil
		}
	}
	q := insights.Query{Project: d.Project, Ref: d.Ref, Days: d.Days, Now: slot, Loc: digestZone(d)}
	if q.Days == 0 {
		q.Days = insights.DefaultDigestDays
	}
	rep, _, err := r.deps.Insights.Build(ctx, q, nil)
	if err != nil {
		return fmt.Errorf("build digest %d: %w", d.ID, err)
	}
	msg := statsMessage(fmt.Sprintf("CI digest #%d", d.ID), rep)
	msg.Metadata = &slack.SlackMetadata{EventType: MetaDigest, EventPayload: map[string]any{"slot": id}}
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

// DigestGivenUp tells digest d's channel, in one line, that its report for
// slot could not be built or posted for an hour, and why (the runner's
// GiveUp).
func (r *Router) DigestGivenUp(ctx context.Context, d state.Digest, slot time.Time, cause error) error {
	poster, ok := r.digestSlack().(channelPoster)
	if !ok {
		return errors.New("digests need a channel poster")
	}
	ref := newRef()
	why := userMessage(notFound(cause, "the project %s", d.Project))
	if why == "" {
		why = "something went wrong"
	}
	r.log.Warn().Err(cause).Str("ref", ref).Int64("digest", d.ID).Msg("digest given up")
	_, err := poster.Post(ctx, d.Channel, TextReply(":warning: CI digest #%d for `%s` (%s) could not be posted: %s (ref `%s`)",
		d.ID, notify.Code(d.Project), slot.In(digestZone(d)).Format(digestTimeLayout), strings.TrimSuffix(why, "."), ref).Message)
	if err != nil {
		return fmt.Errorf("tell %s digest %d was given up: %w", d.Channel, d.ID, err)
	}
	return nil
}
