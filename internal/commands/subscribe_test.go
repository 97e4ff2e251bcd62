package commands

import (
	"strings"
	"testing"
)

func TestSubscribeListAndUnsubscribe(t *testing.T) {
	h := newHarness(t)
	reply, out := h.do(operator, "subscribe group/app on:failed,fixed ref:main,release/*,!release/old user:!renovate-bot")
	if !reply.InChannel || !strings.Contains(out, "subscribed this channel to `group/app`") {
		t.Fatalf("subscribe reply: %s", out)
	}
	_, out = h.do(viewer, "subscriptions")
	for _, want := range []string{"group/app", "on `failed,fixed`", "ref `main,release/*,!release/old`", "user `!renovate-bot`"} {
		if !strings.Contains(out, want) {
			t.Errorf("subscriptions lacks %q: %s", want, out)
		}
	}
	if _, out = h.do(operator, "unsubscribe group/app"); !strings.Contains(out, "unsubscribed") {
		t.Errorf("unsubscribe reply: %s", out)
	}
	if _, out = h.do(viewer, "subscriptions"); !strings.Contains(out, "no subscriptions") {
		t.Errorf("after unsubscribe: %s", out)
	}
}

func TestSubscribeRefusals(t *testing.T) {
	cases := []struct {
		name, user, text, want string
		setup                  func(h *harness)
	}{
		{"viewer may not subscribe", viewer, "subscribe group/app", "needs the operator role", nil},
		{"unknown event", operator, "subscribe group/app on:explode", "not an event", nil},
		{"invisible project", operator, "subscribe secret/app", "cannot subscribe to project `secret/app`", nil},
		{"not in channel says how to invite", operator, "subscribe group/app", "/invite @pipebot", func(h *harness) { h.fake.NotInChannel(chanID) }},
		{"unsubscribe of nothing", operator, "unsubscribe group/app", "no subscription", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			reply, out := h.do(c.user, c.text)
			if !strings.Contains(out, c.want) || reply.InChannel {
				t.Errorf("reply lacks %q (or went to the channel): %s", c.want, out)
			}
			if subs, _ := h.store.ChannelSubscriptions(chanID); len(subs) != 0 {
				t.Errorf("refused subscribe stored %+v", subs)
			}
		})
	}
}
