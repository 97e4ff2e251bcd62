package notify

import (
	"context"
	"errors"

	"github.com/slack-go/slack"
)

// UnfurlTarget says which shared links chat.unfurl answers: a posted
// message (Channel and TS) or, when Slack gave them, a link still in the
// composer or in history (UnfurlID and Source). See
// https://docs.slack.dev/reference/methods/chat.unfurl.
type UnfurlTarget struct {
	Channel, TS      string
	UnfurlID, Source string
}

// Unfurl attaches a preview to each shared link in unfurls (keyed by the URL
// exactly as Slack reported it). Calling it again for the same target
// replaces the previews rather than adding more.
func (s *Slack) Unfurl(ctx context.Context, to UnfurlTarget, unfurls map[string]Message) error {
	if len(unfurls) == 0 {
		return nil
	}
	atts := make(map[string]slack.Attachment, len(unfurls))
	for u, m := range unfurls {
		atts[u] = slack.Attachment{Fallback: m.Text, Blocks: slack.Blocks{BlockSet: m.Blocks}}
	}
	return s.call(ctx, "chat.unfurl", func() error {
		if err := s.open(); err != nil {
			return err
		}
		var err error
		switch {
		case to.UnfurlID != "" && to.Source != "":
			_, _, _, err = s.api.UnfurlMessageByIDContext(ctx, to.UnfurlID, to.Source, atts)
		case to.Channel != "" && to.TS != "":
			_, _, _, err = s.api.UnfurlMessageContext(ctx, to.Channel, to.TS, atts)
		default:
			err = errors.New("no message to unfurl: neither channel and ts nor unfurl_id and source")
		}
		return err
	})
}
