package simulator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The lexer of GraphQL documents (spec.graphql.org, October 2021, "Source
// Text"): punctuators, names, numbers and strings, skipping whitespace,
// commas, comments and a byte order mark.

type gqlTokKind int

const (
	tokEOF gqlTokKind = iota
	tokPunct
	tokName
	tokInt
	tokFloat
	tokString
)

type gqlToken struct {
	kind      gqlTokKind
	text      string // punctuator, name, number as written, or decoded string
	line, col int
}

// gqlTokenName is the token's name in graphql-ruby's messages.
func (t gqlToken) name() string {
	switch t.kind {
	case tokEOF:
		return "EOF"
	case tokName:
		return "IDENTIFIER"
	case tokInt:
		return "INT"
	case tokFloat:
		return "FLOAT"
	case tokString:
		return "STRING"
	}
	switch t.text {
	case "{":
		return "LCURLY"
	case "}":
		return "RCURLY"
	case "(":
		return "LPAREN"
	case ")":
		return "RPAREN"
	case "[":
		return "LBRACKET"
	case "]":
		return "RBRACKET"
	case ":":
		return "COLON"
	case "!":
		return "BANG"
	case "$":
		return "VAR_SIGN"
	case "=":
		return "EQUALS"
	case "@":
		return "DIR_SIGN"
	case "...":
		return "ELLIPSIS"
	case "|":
		return "PIPE"
	case "&":
		return "AMP"
	}
	return "UNKNOWN_CHAR"
}

// gqlError is a GraphQL error as GitLab answers it in "errors".
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func gqlErrorAt(line, col int, format string, args ...any) *gqlError {
	return &gqlError{Message: fmt.Sprintf(format, args...), Locations: []gqlLocation{{Line: line, Column: col}}}
}

func (e *gqlError) Error() string { return e.Message }

// gqlLexer splits a document into tokens.
type gqlLexer struct {
	src       string
	pos       int
	line, col int
}

func (lx *gqlLexer) advance(n int) {
	for i := 0; i < n && lx.pos < len(lx.src); i++ {
		if lx.src[lx.pos] == '\n' {
			lx.line++
			lx.col = 1
		} else if lx.src[lx.pos]&0xC0 != 0x80 { // count runes, not bytes
			lx.col++
		}
		lx.pos++
	}
}

// next returns the next token, skipping whitespace, commas and comments.
func (lx *gqlLexer) next() (gqlToken, *gqlError) {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			lx.advance(1)
			continue
		case c == '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.advance(1)
			}
			continue
		case strings.HasPrefix(lx.src[lx.pos:], "\uFEFF"):
			lx.pos += len("\uFEFF")
			continue
		}
		break
	}
	tok := gqlToken{line: lx.line, col: lx.col}
	if lx.pos >= len(lx.src) {
		tok.kind = tokEOF
		return tok, nil
	}
	rest := lx.src[lx.pos:]
	c := rest[0]
	switch {
	case strings.HasPrefix(rest, "..."):
		tok.kind, tok.text = tokPunct, "..."
		lx.advance(3)
		return tok, nil
	case strings.ContainsRune("!$&()=:@[]{|}", rune(c)):
		tok.kind, tok.text = tokPunct, string(c)
		lx.advance(1)
		return tok, nil
	case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		n := 1
		for n < len(rest) && isNameChar(rest[n]) {
			n++
		}
		tok.kind, tok.text = tokName, rest[:n]
		lx.advance(n)
		return tok, nil
	case c == '-' || c >= '0' && c <= '9':
		return lx.number(tok)
	case c == '"':
		return lx.str(tok)
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return tok, gqlErrorAt(tok.line, tok.col, "Parse error on %q (UNKNOWN_CHAR) at [%d, %d]", string(r), tok.line, tok.col)
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// number scans IntValue or FloatValue.
func (lx *gqlLexer) number(tok gqlToken) (gqlToken, *gqlError) {
	s := lx.src[lx.pos:]
	n := 0
	if s[n] == '-' {
		n++
	}
	digits := func() int {
		start := n
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		return n - start
	}
	bad := func() (gqlToken, *gqlError) {
		return tok, gqlErrorAt(tok.line, tok.col, "Parse error on %q (INT) at [%d, %d]", s[:max(n, 1)], tok.line, tok.col)
	}
	if d := digits(); d == 0 || d > 1 && s[n-d] == '0' {
		return bad()
	}
	tok.kind = tokInt
	if n < len(s) && s[n] == '.' {
		n++
		if digits() == 0 {
			return bad()
		}
		tok.kind = tokFloat
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		n++
		if n < len(s) && (s[n] == '+' || s[n] == '-') {
			n++
		}
		if digits() == 0 {
			return bad()
		}
		tok.kind = tokFloat
	}
	if n < len(s) && (isNameChar(s[n]) || s[n] == '.') {
		n++
		return bad()
	}
	tok.text = s[:n]
	lx.advance(n)
	return tok, nil
}

// str scans a StringValue, or a block string ("""...""") whose common
// indentation is removed as the spec's BlockStringValue says.
func (lx *gqlLexer) str(tok gqlToken) (gqlToken, *gqlError) {
	s := lx.src[lx.pos:]
	tok.kind = tokString
	unterminated := gqlErrorAt(tok.line, tok.col, "Unterminated string at [%d, %d]", tok.line, tok.col)
	if strings.HasPrefix(s, `"""`) {
		end := -1
		for i := 3; i+3 <= len(s); i++ {
			if strings.HasPrefix(s[i:], `\"""`) {
				i += 3
				continue
			}
			if strings.HasPrefix(s[i:], `"""`) {
				end = i
				break
			}
		}
		if end < 0 {
			return tok, unterminated
		}
		tok.text = blockString(strings.ReplaceAll(s[3:end], `\"""`, `"""`))
		lx.advance(end + 3)
		return tok, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			tok.text = b.String()
			lx.advance(i + 1)
			return tok, nil
		case c == '\n' || c == '\r':
			return tok, unterminated
		case c == '\\' && i+1 < len(s):
			esc := map[byte]string{'"': `"`, '\\': `\`, '/': "/", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t"}
			if v, ok := esc[s[i+1]]; ok {
				b.WriteString(v)
				i += 2
				continue
			}
			if s[i+1] == 'u' && i+6 <= len(s) {
				if r, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += 6
					continue
				}
			}
			return tok, gqlErrorAt(tok.line, tok.col, "Bad unicode escape in %q at [%d, %d]", s[i:min(i+6, len(s))], tok.line, tok.col)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return tok, unterminated
}

func blockString(raw string) string {
	lines := strings.Split(strings.ReplaceAll(raw, "\r\n", "\n"), "\n")
	common := -1
	for _, l := range lines[1:] {
		trimmed := strings.TrimLeft(l, " \t")
		if trimmed == "" {
			continue
		}
		if ind := len(l) - len(trimmed); common < 0 || ind < common {
			common = ind
		}
	}
	for i := 1; i < len(lines) && common > 0; i++ {
		if len(lines[i]) >= common {
			lines[i] = lines[i][common:]
		}
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
