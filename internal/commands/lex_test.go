package commands

import (
	"reflect"
	"strings"
	"testing"
)

func TestLexTokenizeDecodesSlackMarkup(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"entities become characters", "a&amp;b &lt;x&gt;", []string{"a&b", "<x>"}},
		{"entities decode once", "&amp;lt; &amp;amp;", []string{"&lt;", "&amp;"}},
		{"unknown entity stays", "&quot; &amp", []string{"&quot;", "&amp"}},
		{"link with label gives the url", "<https://x.example/a|label>", []string{"https://x.example/a"}},
		{"link without label gives the url", "<https://x.example/a>", []string{"https://x.example/a"}},
		{"label with spaces does not split", "open <https://x.example/a|two words> now", []string{"open", "https://x.example/a", "now"}},
		{"url keeps escaped ampersand decoded", "<https://x.example/?a=1&amp;b=2>", []string{"https://x.example/?a=1&b=2"}},
		{"quote inside a url is literal", "<https://x.example/it's>", []string{"https://x.example/it's"}},
		{"autolinked domain-like word gives what was typed", "path:<http://README.md|README.md>", []string{"path:README.md"}},
		{"autolinked https domain gives what was typed", "<https://gitlab.com/g/app|gitlab.com/g/app>", []string{"gitlab.com/g/app"}},
		{"mailto gives the address", "<mailto:a@b.c|a@b.c>", []string{"a@b.c"}},
		{"mailto without label gives the address", "<mailto:a@b.c>", []string{"a@b.c"}},
		{"user mention drops the name", "<@U123|alice>", []string{"<@U123>"}},
		{"user mention stays", "<@U123>", []string{"<@U123>"}},
		{"user mention with spaces in name is one word", "grant <@U123|Alice Smith> admin", []string{"grant", "<@U123>", "admin"}},
		{"channel drops the name", "<#C123|general>", []string{"<#C123>"}},
		{"here", "<!here>", []string{"@here"}},
		{"here with label", "<!here|here>", []string{"@here"}},
		{"channel broadcast", "<!channel>", []string{"@channel"}},
		{"everyone", "<!everyone>", []string{"@everyone"}},
		{"user group gives its handle", "<!subteam^S123|@team>", []string{"@team"}},
		{"user group label without at", "<!subteam^S123|team>", []string{"@team"}},
		{"date gives its fallback", "<!date^1392734382^{date}|Feb 18, 2014>", []string{"Feb 18, 2014"}},
		{"escaped brackets are never markup", "&lt;@U123&gt; &lt;https://x&gt;", []string{"<@U123>", "<https://x>"}},
		{"unclosed bracket is literal", "a<b c", []string{"a<b", "c"}},
		{"bracket without scheme is literal", "<foo>", []string{"<foo>"}},
		{"bracket around spaces is literal", "<a b>", []string{"<a", "b>"}},
		{"lowercase mention is literal", "<@alice>", []string{"<@alice>"}},
		{"markup joins adjacent text", "x<https://y.example>z", []string{"xhttps://y.examplez"}},
		{"markup inside quotes", `"see <https://y.example|y>"`, []string{"see https://y.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexTokenize(tt.text)
			if err != nil {
				t.Fatalf("lexTokenize(%q) error: %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lexTokenize(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestLexTokenizeSplitsLikeAShell(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty text has no tokens", "", nil},
		{"blank text has no tokens", " \t\n ", nil},
		{"spaces", "pipeline  list group/app", []string{"pipeline", "list", "group/app"}},
		{"tabs and newlines", "a\tb\nc", []string{"a", "b", "c"}},
		{"no-break space", "a\u00a0b", []string{"a", "b"}},
		{"zero-width space and bom", "a\u200bb\ufeffc", []string{"a", "b", "c"}},
		{"ideographic space", "a\u3000b", []string{"a", "b"}},
		{"double quotes group", `"a b" c`, []string{"a b", "c"}},
		{"single quotes group", `'a b' c`, []string{"a b", "c"}},
		{"quotes inside a word join it", `description:"nightly build" x`, []string{"description:nightly build", "x"}},
		{"adjacent quoted parts join", `a"b c"'d e'f`, []string{"ab cd ef"}},
		{"empty double quotes are a token", `a "" b`, []string{"a", "", "b"}},
		{"empty single quotes are a token", `''`, []string{""}},
		{"empty quotes after a word add nothing", `ref:""`, []string{"ref:"}},
		{"smart double quotes", "description:“nightly build”", []string{"description:nightly build"}},
		{"smart single quotes", "‘a b’", []string{"a b"}},
		{"smart open closed by straight quote", "“a b\"", []string{"a b"}},
		{"straight open closed by smart quote", "\"a b”", []string{"a b"}},
		{"smart single open closed by straight quote", "‘a b'", []string{"a b"}},
		{"apostrophe in a word is literal", "don’t stop", []string{"don’t", "stop"}},
		{"right double quote alone is literal", "5” x", []string{"5”", "x"}},
		{"single quote inside double quotes", `"it's"`, []string{"it's"}},
		{"double quote inside single quotes", `'say "hi"'`, []string{`say "hi"`}},
		{"backslash escapes a space", `a\ b`, []string{"a b"}},
		{"backslash escapes a quote", `\"a`, []string{`"a`}},
		{"backslash escapes a backslash", `a\\b`, []string{`a\b`}},
		{"trailing backslash is literal", `a\`, []string{`a\`}},
		{"backslash escapes quote inside double quotes", `"a\"b"`, []string{`a"b`}},
		{"backslash escapes backslash inside double quotes", `"a\\b"`, []string{`a\b`}},
		{"other backslash inside double quotes is kept", `"C:\dir\n"`, []string{`C:\dir\n`}},
		{"backslash is literal inside single quotes", `'a\'`, []string{`a\`}},
		{"newline inside quotes is kept", "\"a\nb\"", []string{"a\nb"}},
		{"cron value", `cron:"0 3 * * 1-5" tz:Europe/Berlin`, []string{"cron:0 3 * * 1-5", "tz:Europe/Berlin"}},
		{"exactly the word limit", strings.Repeat("w ", lexMaxTokens), strings.Fields(strings.Repeat("w ", lexMaxTokens))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexTokenize(tt.text)
			if err != nil {
				t.Fatalf("lexTokenize(%q) error: %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lexTokenize(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestLexTokenizeRejects(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // the whole error message
	}{
		{"unterminated double quote says where", `pipeline run "main`, `unterminated " quote at character 14`},
		{"unterminated single quote", `a 'b`, `unterminated ' quote at character 3`},
		{"unterminated smart quote", "a “b", `unterminated “ quote at character 3`},
		{"straight single quote is not closed by apostrophe", "'don’t", `unterminated ' quote at character 1`},
		{"escaped closing quote leaves it open", `"a\"`, `unterminated " quote at character 1`},
		{"too long", strings.Repeat("a", lexMaxBytes+1), "command is too long (4001 bytes); the limit is 4000"},
		{"too many words", strings.Repeat("w ", lexMaxTokens+1), "command has more than 100 words"},
		{"too many empty words", strings.Repeat(`"" `, lexMaxTokens+1), "command has more than 100 words"},
		{"invalid utf-8", "ab\xffc", "command is not valid UTF-8 text (at byte 3)"},
		{"nul", "ab\x00", "command contains a control character (U+0000) at character 3"},
		{"carriage return", "a\rb", "command contains a control character (U+000D) at character 2"},
		{"escape", "é\x1b[31m", "command contains a control character (U+001B) at character 2"},
		{"delete", "a\x7f", "command contains a control character (U+007F) at character 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexTokenize(tt.text)
			if err == nil {
				t.Fatalf("lexTokenize(%q) = %q, want error %q", tt.text, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("lexTokenize(%q) error %q, want %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestLexTokenizeAcceptsTheByteLimit(t *testing.T) {
	text := strings.Repeat("a", lexMaxBytes)
	got, err := lexTokenize(text)
	if err != nil || len(got) != 1 || got[0] != text {
		t.Fatalf("lexTokenize(4000 bytes) = %d tokens, %v; want one token", len(got), err)
	}
}

func TestLexQuoteRoundTrips(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   string // the quoted text, where its exact form matters
	}{
		{"plain words stay bare", []string{"pipeline", "run", "group/app", "ref:main", "K=v"}, "pipeline run group/app ref:main K=v"},
		{"space is quoted", []string{"description:nightly build"}, `"description:nightly build"`},
		{"empty token", []string{""}, `""`},
		{"markup characters are escaped", []string{"<@U123>", "a&b"}, `"&lt;@U123&gt;" "a&amp;b"`},
		{"quotes and backslashes", []string{`a"b\c`, "it's", "“x”", "don’t"}, ""},
		{"whitespace kinds", []string{"a\tb", "a\nb", "a\u00a0b", "a\u200bb"}, ""},
		{"entity text stays literal", []string{"&amp;", "&lt;x&gt;"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := lexQuote(tt.tokens...)
			if tt.want != "" && text != tt.want {
				t.Errorf("lexQuote(%q) = %q, want %q", tt.tokens, text, tt.want)
			}
			got, err := lexTokenize(text)
			if err != nil {
				t.Fatalf("lexTokenize(%q) error: %v", text, err)
			}
			if !reflect.DeepEqual(got, tt.tokens) {
				t.Errorf("lexTokenize(lexQuote(%q)) = %q", tt.tokens, got)
			}
		})
	}
}

func TestLexSplitSortsTokens(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   lexArgs
	}{
		{
			name:   "nothing",
			tokens: nil,
			want:   lexArgs{Options: map[string]string{}},
		},
		{
			name:   "words options and vars keep their order",
			tokens: []string{"group/app", "main", "ref:main", "B=2", "#42", "A=1"},
			want: lexArgs{
				Words:   []string{"group/app", "main", "#42"},
				Options: map[string]string{"ref": "main"},
				Vars:    []lexVar{{"B", "2"}, {"A", "1"}},
			},
		},
		{
			name:   "inputs repeat, keep their order and may hold = and spaces",
			tokens: []string{"main", "input:env=staging", "Input:replicas=3", "input:note=a=b c", "input:empty="},
			want: lexArgs{
				Words:   []string{"main"},
				Options: map[string]string{},
				Inputs:  []lexInput{{"env", "staging"}, {"replicas", "3"}, {"note", "a=b c"}, {"empty", ""}},
			},
		},
		{
			name:   "option name is lowercased and value kept",
			tokens: []string{"Ref:Main", "STATUS:failed"},
			want:   lexArgs{Options: map[string]string{"ref": "Main", "status": "failed"}},
		},
		{
			name:   "option value may contain colons and equals",
			tokens: []string{"job:build:linux", "description:a=b", "cron:0 3 * * *"},
			want:   lexArgs{Options: map[string]string{"job": "build:linux", "description": "a=b", "cron": "0 3 * * *"}},
		},
		{
			name:   "option name with underscore",
			tokens: []string{"per_page:5"},
			want:   lexArgs{Options: map[string]string{"per_page": "5"}},
		},
		{
			name:   "var value may be empty or contain equals and colons",
			tokens: []string{"EMPTY=", "URL=https://x/?a=b", "_x1=a:b"},
			want: lexArgs{
				Options: map[string]string{},
				Vars:    []lexVar{{"EMPTY", ""}, {"URL", "https://x/?a=b"}, {"_x1", "a:b"}},
			},
		},
		{
			name:   "var key of 255 characters",
			tokens: []string{strings.Repeat("K", 255) + "=v"},
			want:   lexArgs{Options: map[string]string{}, Vars: []lexVar{{strings.Repeat("K", 255), "v"}}},
		},
		{
			name:   "urls mentions numbers and paths are words",
			tokens: []string{"https://gitlab.com/g/app/-/pipelines/1", "HTTP://x", "ssh://git@x", "<@U123>", "<#C1>", "42", "#42", "@here", "dir/file.txt"},
			want: lexArgs{
				Words:   []string{"https://gitlab.com/g/app/-/pipelines/1", "HTTP://x", "ssh://git@x", "<@U123>", "<#C1>", "42", "#42", "@here", "dir/file.txt"},
				Options: map[string]string{},
			},
		},
		{
			name:   "malformed option or var names are words",
			tokens: []string{"12:30", "_a:b", "a1:b", "1A=x", "=x", "A-B=x", ":x", "a b:c", "x.y=1"},
			want: lexArgs{
				Words:   []string{"12:30", "_a:b", "a1:b", "1A=x", "=x", "A-B=x", ":x", "a b:c", "x.y=1"},
				Options: map[string]string{},
			},
		},
		{
			name:   "equals before colon makes a var",
			tokens: []string{"A=ref:main"},
			want:   lexArgs{Options: map[string]string{}, Vars: []lexVar{{"A", "ref:main"}}},
		},
		{
			name:   "colon before equals makes an option",
			tokens: []string{"ref:A=b"},
			want:   lexArgs{Options: map[string]string{"ref": "A=b"}},
		},
		{
			name:   "var keys are case sensitive",
			tokens: []string{"a=1", "A=2"},
			want:   lexArgs{Options: map[string]string{}, Vars: []lexVar{{"a", "1"}, {"A", "2"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexSplit(tt.tokens)
			if err != nil {
				t.Fatalf("lexSplit(%q) error: %v", tt.tokens, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lexSplit(%q) =\n %#v\nwant\n %#v", tt.tokens, got, tt.want)
			}
		})
	}
}

func TestLexSplitRejects(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		want   string
	}{
		{"empty option value", []string{"ref:"}, "option ref: needs a value"},
		{"empty option value reports lowercase name", []string{"REF:"}, "option ref: needs a value"},
		{"duplicate option", []string{"ref:a", "ref:b"}, "option ref: given more than once"},
		{"duplicate option in other case", []string{"ref:a", "Ref:b"}, "option ref: given more than once"},
		{"duplicate var", []string{"A=1", "B=2", "A=3"}, "variable A: given more than once"},
		{"duplicate input", []string{"input:a=1", "input:a=2"}, "input a: given more than once"},
		{"input without =", []string{"input:a"}, "option input: needs NAME=value, like input:environment=staging"},
		{"input with an empty name", []string{"input:=1"}, "option input: an input's name is letters, digits, - and _ (at most 255), like input:environment=staging"},
		{"input name with a dot", []string{"input:a.b=1"}, "option input: an input's name is letters, digits, - and _ (at most 255), like input:environment=staging"},
		{"var key over 255 characters", []string{strings.Repeat("K", 256) + "=v"}, "variable KKKKKKKKKKKKKKKKKKKK…: the name is longer than 255 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexSplit(tt.tokens)
			if err == nil {
				t.Fatalf("lexSplit(%q) = %#v, want error %q", tt.tokens, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("lexSplit(%q) error %q, want %q", tt.tokens, err, tt.want)
			}
		})
	}
}

func TestLexArgsFromTokenizedCommand(t *testing.T) {
	tokens, err := lexTokenize(`schedule create group/app main cron:"0 3 * * 1-5" description:“nightly build” DEPLOY_ZONE=us-west1 <@U123|bob>`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lexSplit(tokens)
	if err != nil {
		t.Fatal(err)
	}
	want := lexArgs{
		Words:   []string{"schedule", "create", "group/app", "main", "<@U123>"},
		Options: map[string]string{"cron": "0 3 * * 1-5", "description": "nightly build"},
		Vars:    []lexVar{{"DEPLOY_ZONE", "us-west1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestLexProjectRef(t *testing.T) {
	tests := []struct {
		name string
		word string
		want lexRef
	}{
		{"two segment path", "group/app", lexRef{Path: "group/app"}},
		{"nested path", "group/sub/app", lexRef{Path: "group/sub/app"}},
		{"path characters", "My_Group/sub.team/app-1.2", lexRef{Path: "My_Group/sub.team/app-1.2"}},
		{"git suffix is trimmed", "group/app.git", lexRef{Path: "group/app"}},
		{"trailing slash is trimmed", "group/app/", lexRef{Path: "group/app"}},
		{"project url", "https://gitlab.example.com/g/sub/app", lexRef{Path: "g/sub/app", Host: "gitlab.example.com"}},
		{"clone url", "https://gitlab.example.com/g/app.git", lexRef{Path: "g/app", Host: "gitlab.example.com"}},
		{"url with port and http", "http://localhost:8080/g/app", lexRef{Path: "g/app", Host: "localhost:8080"}},
		{"host is lowercased", "HTTPS://GitLab.Example.COM/G/App", lexRef{Path: "G/App", Host: "gitlab.example.com"}},
		{"url with trailing slash", "https://h.example/g/app/", lexRef{Path: "g/app", Host: "h.example"}},
		{"url with query", "https://h.example/g/app?tab=1", lexRef{Path: "g/app", Host: "h.example"}},
		{"pipeline url", "https://h.example/g/app/-/pipelines/42", lexRef{Path: "g/app", Host: "h.example", PipelineID: 42}},
		{"pipeline url with suffix", "https://h.example/g/app/-/pipelines/42/failures", lexRef{Path: "g/app", Host: "h.example", PipelineID: 42}},
		{"pipeline url with anchor", "https://h.example/g/app/-/pipelines/42#jobs", lexRef{Path: "g/app", Host: "h.example", PipelineID: 42}},
		{"pipeline url with query", "https://h.example/g/app/-/pipelines/42?x=1", lexRef{Path: "g/app", Host: "h.example", PipelineID: 42}},
		{"pipeline list url has no id", "https://h.example/g/app/-/pipelines", lexRef{Path: "g/app", Host: "h.example"}},
		{"new pipeline url has no id", "https://h.example/g/app/-/pipelines/new", lexRef{Path: "g/app", Host: "h.example"}},
		{"job url", "https://h.example/g/sub/app/-/jobs/7", lexRef{Path: "g/sub/app", Host: "h.example", JobID: 7}},
		{"job artifacts url", "https://h.example/g/app/-/jobs/7/artifacts/browse", lexRef{Path: "g/app", Host: "h.example", JobID: 7}},
		{"legacy pipeline url", "https://h.example/g/app/pipelines/42", lexRef{Path: "g/app", Host: "h.example", PipelineID: 42}},
		{"legacy builds url", "https://h.example/g/app/builds/7", lexRef{Path: "g/app", Host: "h.example", JobID: 7}},
		{"legacy jobs url with suffix", "https://h.example/g/app/jobs/7/raw", lexRef{Path: "g/app", Host: "h.example", JobID: 7}},
		{"legacy merge request url", "https://h.example/g/app/merge_requests/3", lexRef{Path: "g/app", Host: "h.example"}},
		{"group named pipelines is a path", "https://h.example/org/ci/pipelines/app", lexRef{Path: "org/ci/pipelines/app", Host: "h.example"}},
		{"merge request url has no ids", "https://h.example/g/app/-/merge_requests/5", lexRef{Path: "g/app", Host: "h.example"}},
		{"merge request pipelines url has no ids", "https://h.example/g/app/-/merge_requests/5/pipelines", lexRef{Path: "g/app", Host: "h.example"}},
		{"tree url", "https://h.example/g/app/-/tree/main", lexRef{Path: "g/app", Host: "h.example"}},
		{"pipeline id zero is no id", "https://h.example/g/app/-/pipelines/0", lexRef{Path: "g/app", Host: "h.example"}},
		{"pipeline id overflow is no id", "https://h.example/g/app/-/pipelines/99999999999999999999", lexRef{Path: "g/app", Host: "h.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lexProjectRef(tt.word)
			if !ok {
				t.Fatalf("lexProjectRef(%q) not ok, want %+v", tt.word, tt.want)
			}
			if got != tt.want {
				t.Errorf("lexProjectRef(%q) = %+v, want %+v", tt.word, got, tt.want)
			}
		})
	}
}

func TestLexProjectRefRejects(t *testing.T) {
	tests := []struct {
		name string
		word string
	}{
		{"empty", ""},
		{"single word", "app"},
		{"number", "42"},
		{"leading slash", "/group/app"},
		{"empty segment", "group//app"},
		{"dot dot", "group/../app"},
		{"dot dot inside a segment", "group/a..b"},
		{"segment starting with dash", "group/-app"},
		{"segment starting with dot", "group/.app"},
		{"segment ending in atom", "group/app.atom"},
		{"inner segment ending in git", "group.git/app"},
		{"double git suffix", "group/app.git.git"},
		{"only git suffix", "group/.git"},
		{"space", "group/my app"},
		{"other characters", "group/app!"},
		{"unicode", "grüppe/app"},
		{"option", "ref:main/x"},
		{"mention", "<@U123>"},
		{"url without path", "https://h.example"},
		{"url with only a group", "https://h.example/group"},
		{"url with only a group and separator", "https://h.example/group/-/pipelines/1"},
		{"url with empty host", "https:///g/app"},
		{"url with user info", "https://token@h.example/g/app"},
		{"url with dot dot", "https://h.example/g/../app"},
		{"url with encoded slash", "https://h.example/g%2Fapp/x"},
		{"other scheme", "ftp://h.example/g/app"},
		{"scheme without slashes is a bad path", "https:g/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := lexProjectRef(tt.word); ok {
				t.Errorf("lexProjectRef(%q) = %+v, want not ok", tt.word, got)
			}
		})
	}
}

func TestLexUserID(t *testing.T) {
	tests := []struct {
		name   string
		word   string
		want   string
		wantOK bool
	}{
		{"mention", "<@U123>", "U123", true},
		{"mention with name", "<@U123|alice>", "U123", true},
		{"enterprise mention", "<@W0G9QF9C6>", "W0G9QF9C6", true},
		{"raw id", "U123ABC", "U123ABC", true},
		{"raw enterprise id", "W123", "W123", true},
		{"channel mention", "<#C123>", "", false},
		{"bot-looking mention", "<@B123>", "", false},
		{"lowercase mention", "<@u123>", "", false},
		{"empty mention", "<@>", "", false},
		{"unclosed mention", "<@U123", "", false},
		{"plain word of capitals", "USA", "", false},
		{"lowercase raw id", "u123", "", false},
		{"too short", "U1", "", false},
		{"channel id", "C123", "", false},
		{"at name", "@alice", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lexUserID(tt.word)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("lexUserID(%q) = %q, %v; want %q, %v", tt.word, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLexInt(t *testing.T) {
	tests := []struct {
		name   string
		word   string
		want   int64
		wantOK bool
	}{
		{"number", "42", 42, true},
		{"hash number", "#42", 42, true},
		{"leading zeros", "007", 7, true},
		{"largest", "9223372036854775807", 9223372036854775807, true},
		{"overflow", "9223372036854775808", 0, false},
		{"zero", "0", 0, false},
		{"negative", "-1", 0, false},
		{"plus sign", "+1", 0, false},
		{"hash only", "#", 0, false},
		{"double hash", "##1", 0, false},
		{"empty", "", 0, false},
		{"letters", "4a", 0, false},
		{"space", " 4", 0, false},
		{"non-ascii digits", "٤٢", 0, false},
		{"merge request ref", "!42", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lexInt(tt.word)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("lexInt(%q) = %d, %v; want %d, %v", tt.word, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLexQuoteLeavesApostrophesBare(t *testing.T) {
	if got := lexQuote("don’t", "5”"); got != "don’t 5”" {
		t.Errorf("lexQuote = %q, want the words bare", got)
	}
}
