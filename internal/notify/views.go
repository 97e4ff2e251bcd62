package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"
)

// viewOpener is the part of *slack.Client that opens modals. It is asserted
// rather than added to slackAPI so that fakes of slackAPI need not grow.
type viewOpener interface {
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
}

var _ viewOpener = (*slack.Client)(nil)

// ErrExpiredTrigger: Slack refused to open a modal because the trigger_id
// was used or is older than its 3 seconds.
// https://docs.slack.dev/reference/methods/views.open#errors
var ErrExpiredTrigger = errors.New("slack trigger_id expired")

// OpenView opens a modal for the user whose command or click carried
// triggerID. It is not retried: a trigger_id lives 3 s, so a wait for a rate
// limit would only expire it.
func (s *Slack) OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	o, ok := s.api.(viewOpener)
	if !ok {
		return errors.New("slack client cannot open views")
	}
	_, err := o.OpenViewContext(ctx, triggerID, view)
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && (se.Err == "expired_trigger_id" || se.Err == "invalid_trigger_id" || se.Err == "exchanged_trigger_id") {
		err = ErrExpiredTrigger
	}
	s.observed("views.open", result(err))
	if err != nil {
		return fmt.Errorf("slack views.open: %w", err)
	}
	return nil
}
