package commands

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzLexTokenize(f *testing.F) {
	for _, seed := range []string{
		"",
		"pipeline list group/app ref:main status:failed",
		`schedule create g/app main cron:"0 3 * * 1-5" description:“nightly build”`,
		"pipeline run g/app main DEPLOY_ZONE=us-west1 EMPTY=",
		"role grant <@U123|alice> admin",
		"<https://gitlab.example.com/g/app/-/pipelines/42|#42> &amp;lt; &lt;@U1&gt;",
		"<mailto:a@b.c|a@b.c> <!here> <!subteam^S1|@team> <#C1|general> <!date^1^x|Feb 18>",
		`a\ b "c\"d" 'e\' ‘f g’ don’t "" x""y`,
		"\"unterminated",
		"a\u00a0b\u200bc\td\ne",
		"<http://README.md|README.md> <a b> <",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tokens, err := lexTokenize(text)
		if err != nil {
			return
		}
		if len(tokens) > lexMaxTokens {
			t.Fatalf("%d tokens, over the limit", len(tokens))
		}
		for _, tok := range tokens {
			if strings.ContainsRune(tok, 0) {
				t.Fatalf("token %q contains NUL", tok)
			}
		}
		quoted := lexQuote(tokens...)
		if len(quoted) > lexMaxBytes {
			return // quoting grew the text past the limit
		}
		again, err := lexTokenize(quoted)
		if err != nil {
			t.Fatalf("lexTokenize(lexQuote(%q)) = %q: error %v", tokens, quoted, err)
		}
		if len(again) != len(tokens) || (len(tokens) > 0 && !reflect.DeepEqual(again, tokens)) {
			t.Fatalf("tokens %q quoted as %q came back as %q", tokens, quoted, again)
		}
	})
}

func FuzzLexProjectRef(f *testing.F) {
	for _, seed := range []string{
		"group/app",
		"group/sub/app.git",
		"https://gitlab.example.com/g/app/-/pipelines/42/failures#x",
		"http://localhost:8080/g/sub/app/-/jobs/7?x=1",
		"https://h/g/app/builds/9",
		"https://h/g/../app",
		"g/a..b",
		"/g/app",
		"https://h/g/app/-/pipelines/99999999999999999999",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, word string) {
		ref, ok := lexProjectRef(word)
		if !ok {
			if ref != (lexRef{}) {
				t.Fatalf("not ok but returned %+v", ref)
			}
			return
		}
		if ref.PipelineID < 0 || ref.JobID < 0 {
			t.Fatalf("negative id in %+v", ref)
		}
		if strings.Contains(ref.Path, "..") || strings.HasPrefix(ref.Path, "/") || !strings.Contains(ref.Path, "/") {
			t.Fatalf("bad path in %+v", ref)
		}
		// The path alone reads back as itself.
		bare, ok := lexProjectRef(ref.Path)
		if !ok || bare != (lexRef{Path: ref.Path}) {
			t.Fatalf("path %q of %q reads back as %+v, %v", ref.Path, word, bare, ok)
		}
	})
}
