package notify

import (
	"context"
	"errors"

	"github.com/slack-go/slack"
)

// slackLookupAPI is the part of *slack.Client subscriptions ask Slack.
type slackLookupAPI interface {
	GetConversationInfoContext(ctx context.Context, input *slack.GetConversationInfoInput) (*slack.Channel, error)
	GetUserByEmailContext(ctx context.Context, email string) (*slack.User, error)
}

var _ slackLookupAPI = (*slack.Client)(nil)

// ErrUserNotFound means Slack has no member with that email.
var ErrUserNotFound = errors.New("slack user not found")

// IsMember reports whether pipebot is a member of channel
// (conversations.info is_member). A channel pipebot cannot see at all
// (channel_not_found, as for a private channel it was not invited to) is
// reported as not a member.
func (s *Slack) IsMember(ctx context.Context, channel string) (bool, error) {
	api, ok := s.api.(slackLookupAPI)
	if !ok {
		return true, nil
	}
	var ch *slack.Channel
	err := s.call(ctx, "conversations.info", func() error {
		var err error
		ch, err = api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: channel})
		return err
	})
	switch {
	case errors.Is(err, ErrNotInChannel), errors.Is(err, ErrChannelNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	// A DM with pipebot is always open to it.
	return ch.IsMember || ch.IsIM, nil
}

// UserByEmail returns the Slack user id of the member with email
// (users.lookupByEmail); ErrUserNotFound when there is none.
func (s *Slack) UserByEmail(ctx context.Context, email string) (string, error) {
	api, ok := s.api.(slackLookupAPI)
	if !ok {
		return "", ErrUserNotFound
	}
	var u *slack.User
	err := s.call(ctx, "users.lookupByEmail", func() error {
		var err error
		u, err = api.GetUserByEmailContext(ctx, email)
		return err
	})
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && se.Err == "users_not_found" {
		return "", ErrUserNotFound
	}
	if err != nil {
		if errors.Is(err, ErrUserNotFound) {
			return "", err
		}
		// slack-go returns users_not_found as a plain error string too.
		if err.Error() == "slack users.lookupByEmail: users_not_found" {
			return "", ErrUserNotFound
		}
		return "", err
	}
	return u.ID, nil
}
