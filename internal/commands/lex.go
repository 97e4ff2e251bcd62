package commands

// This file is the lexer of the command language (DESIGN.md §2): it turns the text of a
// slash command into tokens, sorts tokens into positional words, name:value options and
// KEY=value variables, and reads the shapes of project references, user mentions and ids.
// Every error it returns is a sentence that may be shown to the user as is.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// lexMaxBytes bounds the text of one command; Slack itself caps messages near 4000.
	lexMaxBytes = 4000
	// lexMaxTokens bounds the number of tokens of one command.
	lexMaxTokens = 100
	// lexMaxVarKey is GitLab's limit on a CI/CD variable key.
	lexMaxVarKey = 255
)

// lexRune is one character of decoded text. lit marks characters that came out of a
// Slack markup wrapper (a link, a mention): the splitter keeps them literally, so a
// quote or a space inside a URL or label can neither open a quote nor split a word.
type lexRune struct {
	r   rune
	lit bool
}

// lexTokenize decodes Slack's escaping and splits text like a shell.
//
// Slack sends `&`, `<` and `>` typed by the user as `&amp;`, `&lt;` and `&gt;`, and wraps
// links, mentions and channels in `<…>` (https://api.slack.com/reference/surfaces/formatting#escaping,
// https://api.slack.com/interactivity/slash-commands#creating_commands "Escape channels,
// users, and links"). Both are decoded in a single pass, so `&amp;lt;` stays `&lt;`.
// Then the text is split on white space with double quotes, single quotes, the smart
// quotes Slack clients insert, and backslash escapes. Empty text gives no tokens.
// Every error is a sentence that can be shown to the user as is.
func lexTokenize(text string) ([]string, error) {
	if err := lexCheckText(text); err != nil {
		return nil, err
	}
	return lexSplitWords(lexDecodeSlack(text))
}

// lexCheckText enforces the limits on raw command text.
func lexCheckText(text string) error {
	if len(text) > lexMaxBytes {
		return fmt.Errorf("command is too long (%d bytes); the limit is %d", len(text), lexMaxBytes)
	}
	char := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("command is not valid UTF-8 text (at byte %d)", i+1)
		}
		char++
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return fmt.Errorf("command contains a control character (U+%04X) at character %d", r, char)
		}
		i += size
	}
	return nil
}

// lexDecodeSlack decodes Slack's entities and `<…>` wrappers in one left-to-right pass.
func lexDecodeSlack(text string) []lexRune {
	out := make([]lexRune, 0, len(text))
	for i := 0; i < len(text); {
		switch text[i] {
		case '&':
			if r, n := lexEntity(text[i:]); n > 0 {
				out = append(out, lexRune{r: r, lit: true})
				i += n
				continue
			}
		case '<':
			if dec, n, ok := lexMarkup(text[i:]); ok {
				for _, r := range dec {
					out = append(out, lexRune{r: r, lit: true})
				}
				i += n
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		out = append(out, lexRune{r: r})
		i += size
	}
	return out
}

// lexEntity reads one of the three entities Slack escapes at the start of s and returns
// the character and the length consumed, or 0 when s does not start with one.
func lexEntity(s string) (rune, int) {
	switch {
	case strings.HasPrefix(s, "&amp;"):
		return '&', len("&amp;")
	case strings.HasPrefix(s, "&lt;"):
		return '<', len("&lt;")
	case strings.HasPrefix(s, "&gt;"):
		return '>', len("&gt;")
	}
	return 0, 0
}

// lexUnescape decodes entities in a part of a wrapper (a URL or a label), once.
func lexUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if r, n := lexEntity(s[i:]); n > 0 {
			b.WriteRune(r)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// lexMarkup decodes a Slack wrapper at the start of s ("<https://x|label>", "<@U1|name>",
// "<#C1|name>", "<!here>", "<!subteam^S1|@team>"). It returns the replacement text and
// the number of bytes consumed; ok is false when s does not start with a wrapper, in
// which case the '<' is an ordinary character (the terminal console sends text unescaped).
func lexMarkup(s string) (dec string, n int, ok bool) {
	end := strings.IndexAny(s[1:], "<>\n")
	if end < 0 || s[1+end] != '>' {
		return "", 0, false
	}
	content := s[1 : 1+end]
	n = end + 2
	target, label, hasLabel := strings.Cut(content, "|")
	if target == "" || strings.IndexFunc(target, lexIsSpace) >= 0 {
		return "", 0, false
	}
	switch target[0] {
	case '@':
		if !lexIsSlackID(target[1:]) {
			return "", 0, false
		}
		return "<" + target + ">", n, true
	case '#':
		if !lexIsSlackID(target[1:]) {
			return "", 0, false
		}
		return "<" + target + ">", n, true
	case '!':
		name := target[1:]
		if name == "" {
			return "", 0, false
		}
		// Special mentions: <!here>, <!channel>, <!everyone>, <!subteam^S1|@team>,
		// and <!date^…|fallback>: the label, when there is one, is what the user saw.
		if hasLabel && label != "" && !lexIsBroadcast(name) {
			label = lexUnescape(label)
			if strings.HasPrefix(name, "subteam^") && !strings.HasPrefix(label, "@") {
				label = "@" + label
			}
			return label, n, true
		}
		return "@" + name, n, true
	}
	if !lexHasScheme(target) {
		return "", 0, false
	}
	url := lexUnescape(target)
	label = lexUnescape(label)
	if scheme, rest, _ := strings.Cut(url, ":"); strings.EqualFold(scheme, "mailto") {
		return rest, n, true
	}
	// Slack links text that merely looks like a domain ("README.md", "app.zip") as
	// <http://README.md|README.md>; then the label is exactly what the user typed.
	if hasLabel && label != "" && (url == "http://"+label || url == "https://"+label) {
		return label, n, true
	}
	return url, n, true
}

// lexIsBroadcast reports whether name is one of Slack's broadcast mentions.
func lexIsBroadcast(name string) bool {
	return name == "here" || name == "channel" || name == "everyone"
}

// lexHasScheme reports whether s starts with a URL scheme and a colon, like "https:" or "mailto:".
func lexHasScheme(s string) bool {
	scheme, _, found := strings.Cut(s, ":")
	if !found || scheme == "" {
		return false
	}
	for i, c := range scheme {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// lexIsSlackID reports whether s looks like a Slack object id (U123ABC, C0G9QF9GW).
func lexIsSlackID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// lexIsSpace reports whether r separates words: Unicode white space (tab, newline,
// no-break space, …) and the zero-width space and byte-order mark that pasted text carries.
func lexIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
}

// lexCloses reports whether r closes a quote opened by open. Double quotes close with a
// straight or a right smart quote, since clients turn only some quotes into smart ones.
// A right single quote (’) never opens a quote: it is also the apostrophe Slack inserts
// in words like don’t.
func lexCloses(open, r rune) bool {
	switch open {
	case '"', '“':
		return r == '"' || r == '”'
	case '‘':
		return r == '’' || r == '\''
	case '\'':
		return r == '\''
	}
	return false
}

// lexIsQuote reports whether r opens a quote outside quotes.
func lexIsQuote(r rune) bool {
	return r == '"' || r == '“' || r == '\'' || r == '‘'
}

// lexSplitWords splits decoded text like a shell: white space separates words; quotes
// group; quotes inside a word join it (description:"a b" is one word); "" is an empty
// word. A backslash outside quotes takes the next character literally; inside double
// quotes it escapes only a quote or a backslash and is otherwise kept, so "C:\dir" stays.
// Single quotes take everything literally. Errors are sentences for the user.
func lexSplitWords(rs []lexRune) ([]string, error) {
	var (
		tokens []string
		cur    strings.Builder
		inWord bool
	)
	emit := func() error {
		if len(tokens) == lexMaxTokens {
			return fmt.Errorf("command has more than %d words", lexMaxTokens)
		}
		tokens = append(tokens, cur.String())
		cur.Reset()
		inWord = false
		return nil
	}
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c.lit:
			cur.WriteRune(c.r)
			inWord = true
		case lexIsSpace(c.r):
			if inWord {
				if err := emit(); err != nil {
					return nil, err
				}
			}
		case c.r == '\\':
			if i+1 < len(rs) {
				i++
			}
			cur.WriteRune(rs[i].r)
			inWord = true
		case lexIsQuote(c.r):
			end, err := lexQuoted(rs, i, &cur)
			if err != nil {
				return nil, err
			}
			i = end
			inWord = true
		default:
			cur.WriteRune(c.r)
			inWord = true
		}
	}
	if inWord {
		if err := emit(); err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

// lexQuoted writes the content of the quote opened at rs[start] to cur and returns the
// index of its closing quote.
func lexQuoted(rs []lexRune, start int, cur *strings.Builder) (int, error) {
	open := rs[start].r
	double := open == '"' || open == '“'
	for j := start + 1; j < len(rs); j++ {
		c := rs[j]
		switch {
		case c.lit:
			cur.WriteRune(c.r)
		case lexCloses(open, c.r):
			return j, nil
		case double && c.r == '\\' && j+1 < len(rs) && !rs[j+1].lit && lexEscapable(rs[j+1].r):
			j++
			cur.WriteRune(rs[j].r)
		default:
			cur.WriteRune(c.r)
		}
	}
	return 0, fmt.Errorf("unterminated %c quote at character %d", open, start+1)
}

// lexEscapable reports whether a backslash inside double quotes escapes r.
func lexEscapable(r rune) bool {
	return r == '"' || r == '\\' || r == '“' || r == '”'
}

// lexQuote is the inverse of lexTokenize: it joins tokens into command text that
// lexTokenize splits back into the same tokens (for commands carried by buttons and
// for usage examples). Plain tokens are left bare; others are double-quoted, with
// `&`, `<` and `>` escaped as Slack would, so a token is never read as a wrapper.
func lexQuote(tokens ...string) string {
	var b strings.Builder
	for i, t := range tokens {
		if i > 0 {
			b.WriteByte(' ')
		}
		if lexIsPlain(t) {
			b.WriteString(t)
			continue
		}
		b.WriteByte('"')
		for _, r := range t {
			switch r {
			case '&':
				b.WriteString("&amp;")
			case '<':
				b.WriteString("&lt;")
			case '>':
				b.WriteString("&gt;")
			case '"', '\\', '“', '”':
				b.WriteByte('\\')
				b.WriteRune(r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	return b.String()
}

// lexIsPlain reports whether t can be written without quotes.
func lexIsPlain(t string) bool {
	if t == "" {
		return false
	}
	for _, r := range t {
		if lexIsSpace(r) || lexIsQuote(r) || unicode.IsControl(r) || strings.ContainsRune(`\&<>`, r) {
			return false
		}
	}
	return true
}

// lexVar is one KEY=value token: a CI/CD variable for GitLab.
type lexVar struct{ Key, Value string }

// lexInput is one input:NAME=value option: a CI/CD input for GitLab.
type lexInput struct{ Name, Value string }

// lexMaxInputName bounds an input's name; GitLab's are short identifiers.
const lexMaxInputName = 255

// lexArgs is a command's tokens sorted by kind.
type lexArgs struct {
	Words   []string          // positional words, in order
	Options map[string]string // name:value with name lowercased
	Vars    []lexVar          // KEY=value, in order
	Inputs  []lexInput        // input:NAME=value, in order
}

// lexSplit sorts tokens into positional words, name:value options and KEY=value
// variables. A token is a variable when the part before its first '=' is a valid GitLab
// variable key; otherwise an option when the part before its first ':' is a name of
// letters and underscores and the token is not a URL; otherwise a positional word
// (paths, URLs, numbers, "#42", mentions). Options is never nil.
func lexSplit(tokens []string) (lexArgs, error) {
	args := lexArgs{Options: map[string]string{}}
	seenVar, seenInput := map[string]bool{}, map[string]bool{}
	for _, t := range tokens {
		if key, value, ok := strings.Cut(t, "="); ok && lexIsVarKey(key) {
			if len(key) > lexMaxVarKey {
				return lexArgs{}, fmt.Errorf("variable %s…: the name is longer than %d characters", key[:20], lexMaxVarKey)
			}
			if seenVar[key] {
				return lexArgs{}, fmt.Errorf("variable %s: given more than once", key)
			}
			seenVar[key] = true
			args.Vars = append(args.Vars, lexVar{Key: key, Value: value})
			continue
		}
		if name, value, ok := strings.Cut(t, ":"); ok && lexIsOptionName(name) && !strings.HasPrefix(value, "//") {
			name = strings.ToLower(name)
			if value == "" {
				return lexArgs{}, fmt.Errorf("option %s: needs a value", name)
			}
			if name == "input" {
				in, err := lexSplitInput(value)
				if err != nil {
					return lexArgs{}, err
				}
				if seenInput[in.Name] {
					return lexArgs{}, fmt.Errorf("input %s: given more than once", in.Name)
				}
				seenInput[in.Name] = true
				args.Inputs = append(args.Inputs, in)
				continue
			}
			if _, dup := args.Options[name]; dup {
				return lexArgs{}, fmt.Errorf("option %s: given more than once", name)
			}
			args.Options[name] = value
			continue
		}
		args.Words = append(args.Words, t)
	}
	return args, nil
}

// lexSplitInput reads the NAME=value of an input: option. The option is
// repeatable, one input each.
func lexSplitInput(v string) (lexInput, error) {
	name, value, ok := strings.Cut(v, "=")
	switch {
	case !ok:
		return lexInput{}, fmt.Errorf("option input: needs NAME=value, like input:environment=staging")
	case !lexIsInputName(name):
		return lexInput{}, fmt.Errorf("option input: an input's name is letters, digits, - and _ (at most %d), like input:environment=staging", lexMaxInputName)
	}
	return lexInput{Name: name, Value: value}, nil
}

// lexIsInputName reports whether s can name a CI/CD input: letters, digits,
// '-' and '_', at most lexMaxInputName characters.
func lexIsInputName(s string) bool {
	if s == "" || len(s) > lexMaxInputName {
		return false
	}
	for _, c := range s {
		switch {
		case c == '_', c == '-', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// lexIsVarKey reports whether s has the shape of a GitLab CI/CD variable key
// (^[A-Za-z_][A-Za-z0-9_]*$); the length limit is checked by the caller so that an
// over-long key is an error rather than a positional word.
func lexIsVarKey(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// lexIsOptionName reports whether s is an option name (^[a-z][a-z_]*$, any case).
// "https://…" also has this shape; the caller rules out URLs by the "//" that follows.
func lexIsOptionName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && c == '_':
		default:
			return false
		}
	}
	return true
}

// lexRef is a project named by a path or by a pasted GitLab URL, with the pipeline or
// job id the URL points at. (Go allows no type named like the function lexProjectRef.)
type lexRef struct {
	Path       string // "group/sub/app"
	Host       string // host[:port] of a pasted URL, lowercased ("" for a bare path)
	PipelineID int64  // from .../-/pipelines/42 (or legacy .../pipelines/42)
	JobID      int64  // from .../-/jobs/7 (or legacy .../builds/7)
}

// lexProjectRef reads a project path ("group/sub/app", "group/app.git") or a GitLab URL
// of a project, pipeline, job, merge request or other project page. A single segment is
// a group or a user, not a project, so it is not a reference.
func lexProjectRef(word string) (lexRef, bool) {
	lower := strings.ToLower(word)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		return lexProjectURL(word[strings.Index(word, "://")+3:])
	}
	path, ok := lexProjectPath(strings.TrimSuffix(word, "/"))
	if !ok {
		return lexRef{}, false
	}
	return lexRef{Path: path}, true
}

// lexProjectURL reads the part of a URL after "scheme://". GitLab puts project pages
// after a "/-/" separator (https://docs.gitlab.com/development/routing/); older links
// without it (…/pipelines/42, …/builds/7) still redirect and are read too.
func lexProjectURL(rest string) (lexRef, bool) {
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd <= 0 || rest[hostEnd] != '/' {
		return lexRef{}, false
	}
	host := strings.ToLower(rest[:hostEnd])
	if !lexIsHost(host) {
		return lexRef{}, false
	}
	urlPath := rest[hostEnd+1:]
	if i := strings.IndexAny(urlPath, "?#"); i >= 0 {
		urlPath = urlPath[:i]
	}
	ref := lexRef{Host: host}
	var project string
	var tail []string
	if before, after, found := strings.Cut(urlPath, "/-/"); found {
		project, tail = before, strings.Split(after, "/")
	} else {
		project = strings.TrimSuffix(urlPath, "/")
		segs := strings.Split(project, "/")
		// Legacy routes: the last "pipelines|builds|jobs|merge_requests|issues/<n>" after
		// at least two project segments.
		for i := len(segs) - 2; i >= 2; i-- {
			if lexIsLegacyRoute(segs[i]) && lexDigits(segs[i+1]) {
				project, tail = strings.Join(segs[:i], "/"), segs[i:]
				break
			}
		}
	}
	if len(tail) >= 2 {
		if id, ok := lexInt(tail[1]); ok {
			switch tail[0] {
			case "pipelines":
				ref.PipelineID = id
			case "jobs", "builds":
				ref.JobID = id
			}
		}
	}
	path, ok := lexProjectPath(project)
	if !ok {
		return lexRef{}, false
	}
	ref.Path = path
	return ref, true
}

// lexIsLegacyRoute reports whether seg names a project page in GitLab's URLs from before "/-/".
func lexIsLegacyRoute(seg string) bool {
	switch seg {
	case "pipelines", "builds", "jobs", "merge_requests", "issues":
		return true
	}
	return false
}

// lexIsHost reports whether s is a plausible host[:port]; user info ("token@host") is refused.
func lexIsHost(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// lexProjectPath validates a project path of two or more segments and trims a clone
// URL's ".git" suffix. Segments follow GitLab's path rules
// (https://docs.gitlab.com/user/reserved_names/#rules-for-usernames-project-and-group-names-and-slugs):
// letters, digits, '_', '-' and '.', not starting with '-' or '.', not ending in ".git"
// or ".atom"; ".." is refused anywhere.
func lexProjectPath(p string) (string, bool) {
	p = strings.TrimSuffix(p, ".git")
	segs := strings.Split(p, "/")
	if len(segs) < 2 || strings.Contains(p, "..") {
		return "", false
	}
	for _, s := range segs {
		if !lexIsPathSegment(s) {
			return "", false
		}
	}
	return p, true
}

// lexIsPathSegment reports whether s is one valid segment of a GitLab namespace path.
func lexIsPathSegment(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' || strings.HasSuffix(s, ".git") || strings.HasSuffix(s, ".atom") {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// lexUserID reads a Slack user id from a mention ("<@U123>", "<@U123|name>") or a raw
// id ("U123ABC", "W123"). A raw id must contain a digit, so that words like "USA" or
// "WORK" are not taken for ids.
func lexUserID(word string) (string, bool) {
	if strings.HasPrefix(word, "<@") && strings.HasSuffix(word, ">") {
		id, _, _ := strings.Cut(word[2:len(word)-1], "|")
		if len(id) >= 2 && (id[0] == 'U' || id[0] == 'W') && lexIsSlackID(id) {
			return id, true
		}
		return "", false
	}
	if len(word) >= 3 && (word[0] == 'U' || word[0] == 'W') && lexIsSlackID(word) && strings.ContainsAny(word, "0123456789") {
		return word, true
	}
	return "", false
}

// lexInt reads a positive id written as "42" or "#42".
func lexInt(word string) (int64, bool) {
	word = strings.TrimPrefix(word, "#")
	if !lexDigits(word) {
		return 0, false
	}
	n, err := strconv.ParseInt(word, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// lexDigits reports whether s is a non-empty run of ASCII digits.
func lexDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
