package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit limits Slack enforces with invalid_blocks; pipebot's cards (log
// tails in a section, many job buttons) are exactly what runs into them.
// https://docs.slack.dev/reference/block-kit/blocks
const (
	maxBlockID        = 255
	maxSectionText    = 3000
	maxSectionFields  = 10
	maxFieldText      = 2000
	maxHeaderText     = 150
	maxActionElements = 25
	maxContextElems   = 10
	maxButtonText     = 75
	maxButtonValue    = 2000
	maxButtonURL      = 3000
	maxActionID       = 255
)

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type blockShape struct {
	Type     string            `json:"type"`
	BlockID  string            `json:"block_id"`
	Text     *textObject       `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

type elementShape struct {
	Type     string      `json:"type"`
	Text     *textObject `json:"text"`
	Value    string      `json:"value"`
	URL      string      `json:"url"`
	ActionID string      `json:"action_id"`
}

// validateBlocks checks raw against the Block Kit rules pipebot can break
// and returns Slack-style messages ("[ERROR] … [json-pointer:/blocks/0/text]"),
// none when valid.
func validateBlocks(raw json.RawMessage, maxBlocks int, pointer string) []string {
	var blocks []json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return []string{"[ERROR] must be an array [json-pointer:" + pointer + "]"}
	}
	var msgs []string
	add := func(p, format string, args ...any) {
		msgs = append(msgs, fmt.Sprintf("[ERROR] "+format+" [json-pointer:%s]", append(args, p)...))
	}
	if len(blocks) > maxBlocks {
		add(pointer, "no more than %d items allowed", maxBlocks)
	}
	for i, rb := range blocks {
		p := fmt.Sprintf("%s/%d", pointer, i)
		var b blockShape
		if err := json.Unmarshal(rb, &b); err != nil || b.Type == "" {
			add(p, "missing required field: type")
			continue
		}
		if utf8.RuneCountInString(b.BlockID) > maxBlockID {
			add(p+"/block_id", "must be less than %d characters", maxBlockID+1)
		}
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				add(p, "must provide either text or fields")
			}
			if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > maxSectionText {
				add(p+"/text/text", "must be less than %d characters", maxSectionText+1)
			}
			if b.Text != nil && b.Text.Text == "" {
				add(p+"/text/text", "must be more than 0 characters")
			}
			if len(b.Fields) > maxSectionFields {
				add(p+"/fields", "no more than %d items allowed", maxSectionFields)
			}
			for j, f := range b.Fields {
				if utf8.RuneCountInString(f.Text) > maxFieldText {
					add(fmt.Sprintf("%s/fields/%d/text", p, j), "must be less than %d characters", maxFieldText+1)
				}
			}
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" {
				add(p+"/text", "must be a plain_text object")
			} else if n := utf8.RuneCountInString(b.Text.Text); n == 0 || n > maxHeaderText {
				add(p+"/text/text", "must be between 1 and %d characters", maxHeaderText)
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > maxActionElements {
				add(p+"/elements", "must have between 1 and %d items", maxActionElements)
			}
			for j, re := range b.Elements {
				msgs = append(msgs, validateElement(re, fmt.Sprintf("%s/elements/%d", p, j))...)
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > maxContextElems {
				add(p+"/elements", "must have between 1 and %d items", maxContextElems)
			}
		}
	}
	return msgs
}

func validateElement(raw json.RawMessage, p string) []string {
	var e elementShape
	if err := json.Unmarshal(raw, &e); err != nil || e.Type == "" {
		return []string{"[ERROR] missing required field: type [json-pointer:" + p + "]"}
	}
	var msgs []string
	check := func(field, v string, max int) {
		if utf8.RuneCountInString(v) > max {
			msgs = append(msgs, fmt.Sprintf("[ERROR] must be less than %d characters [json-pointer:%s/%s]", max+1, p, field))
		}
	}
	check("action_id", e.ActionID, maxActionID)
	if e.Type == "button" {
		if e.Text == nil || e.Text.Text == "" {
			msgs = append(msgs, "[ERROR] missing required field: text [json-pointer:"+p+"]")
		} else {
			check("text/text", e.Text.Text, maxButtonText)
		}
		check("value", e.Value, maxButtonValue)
		check("url", e.URL, maxButtonURL)
	}
	return msgs
}
