package simulator

// A parser for GraphQL query documents (spec.graphql.org, October 2021,
// "Language"): operations with variable definitions, fields with aliases,
// arguments whose values are literals or variables, and nested selection
// sets. Fragments and directives are recognised and refused with an error,
// since the simulator's schema (graphql.go) needs neither. Errors read as
// GitLab's GraphQL library (graphql-ruby) words them: "Expected NAME,
// actual: RCURLY ("}") at [1, 12]".

// The document's syntax tree.
type gqlDocument struct {
	ops []*gqlOperation
}

type gqlOperation struct {
	kind, name string // kind "query", "mutation" or "subscription"
	vars       []*gqlVarDef
	sel        []*gqlField
	line, col  int
}

type gqlVarDef struct {
	name      string
	typ       *gqlTypeRef
	def       *gqlValue
	line, col int
}

// gqlTypeRef is a type as written: Name, [Type] or either with "!".
type gqlTypeRef struct {
	name    string
	elem    *gqlTypeRef // a list of elem when set
	nonNull bool
}

func (t *gqlTypeRef) String() string {
	s := t.name
	if t.elem != nil {
		s = "[" + t.elem.String() + "]"
	}
	if t.nonNull {
		s += "!"
	}
	return s
}

type gqlField struct {
	alias, name string
	args        []*gqlArg
	sel         []*gqlField
	hasSel      bool
	line, col   int
}

// key is the field's name in the response.
func (f *gqlField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

type gqlArg struct {
	name      string
	val       *gqlValue
	line, col int
}

type gqlValueKind int

const (
	valVar gqlValueKind = iota
	valInt
	valFloat
	valString
	valBool
	valNull
	valEnum
	valList
	valObject
)

type gqlValue struct {
	kind      gqlValueKind
	text      string // variable name, number, string, enum name, "true"/"false"
	list      []*gqlValue
	fields    []*gqlArg // object fields
	line, col int
}

// gqlParser is a recursive-descent parser over gqlLexer.
type gqlParser struct {
	lx  gqlLexer
	tok gqlToken
}

// parseGraphQL parses a query document.
func parseGraphQL(src string) (*gqlDocument, *gqlError) {
	p := &gqlParser{lx: gqlLexer{src: src, line: 1, col: 1}}
	if err := p.read(); err != nil {
		return nil, err
	}
	doc := &gqlDocument{}
	if p.tok.kind == tokEOF {
		return nil, &gqlError{Message: "Unexpected end of document"}
	}
	for p.tok.kind != tokEOF {
		op, err := p.operation()
		if err != nil {
			return nil, err
		}
		doc.ops = append(doc.ops, op)
	}
	return doc, nil
}

func (p *gqlParser) read() *gqlError {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *gqlParser) unexpected(want string) *gqlError {
	t := p.tok
	if t.kind == tokEOF {
		return gqlErrorAt(t.line, t.col, "Expected %s, actual: EOF at [%d, %d]", want, t.line, t.col)
	}
	return gqlErrorAt(t.line, t.col, "Expected %s, actual: %s (%q) at [%d, %d]", want, t.name(), t.text, t.line, t.col)
}

func (p *gqlParser) isPunct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

func (p *gqlParser) expect(s string) *gqlError {
	if !p.isPunct(s) {
		return p.unexpected(gqlToken{kind: tokPunct, text: s}.name())
	}
	return p.read()
}

func (p *gqlParser) name() (string, *gqlError) {
	if p.tok.kind != tokName {
		return "", p.unexpected("NAME")
	}
	n := p.tok.text
	return n, p.read()
}

func (p *gqlParser) operation() (*gqlOperation, *gqlError) {
	op := &gqlOperation{kind: "query", line: p.tok.line, col: p.tok.col}
	if p.isPunct("{") {
		sel, err := p.selectionSet()
		op.sel = sel
		return op, err
	}
	if p.tok.kind != tokName {
		return nil, p.unexpected("LCURLY")
	}
	switch p.tok.text {
	case "query", "mutation", "subscription":
		op.kind = p.tok.text
	case "fragment":
		return nil, gqlErrorAt(p.tok.line, p.tok.col, "Fragments are not supported by the GitLab simulator")
	default:
		return nil, p.unexpected("LCURLY")
	}
	if err := p.read(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokName {
		op.name = p.tok.text
		if err := p.read(); err != nil {
			return nil, err
		}
	}
	if p.isPunct("(") {
		if err := p.read(); err != nil {
			return nil, err
		}
		for !p.isPunct(")") {
			v, err := p.varDef()
			if err != nil {
				return nil, err
			}
			op.vars = append(op.vars, v)
		}
		if err := p.read(); err != nil {
			return nil, err
		}
	}
	if err := p.noDirectives(); err != nil {
		return nil, err
	}
	sel, err := p.selectionSet()
	op.sel = sel
	return op, err
}

func (p *gqlParser) noDirectives() *gqlError {
	if p.isPunct("@") {
		return gqlErrorAt(p.tok.line, p.tok.col, "Directives are not supported by the GitLab simulator")
	}
	return nil
}

func (p *gqlParser) varDef() (*gqlVarDef, *gqlError) {
	v := &gqlVarDef{line: p.tok.line, col: p.tok.col}
	if err := p.expect("$"); err != nil {
		return nil, err
	}
	var err *gqlError
	if v.name, err = p.name(); err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	if v.typ, err = p.typeRef(); err != nil {
		return nil, err
	}
	if p.isPunct("=") {
		if err := p.read(); err != nil {
			return nil, err
		}
		if v.def, err = p.value(true); err != nil {
			return nil, err
		}
	}
	return v, p.noDirectives()
}

func (p *gqlParser) typeRef() (*gqlTypeRef, *gqlError) {
	t := &gqlTypeRef{}
	if p.isPunct("[") {
		if err := p.read(); err != nil {
			return nil, err
		}
		elem, err := p.typeRef()
		if err != nil {
			return nil, err
		}
		t.elem = elem
		if err := p.expect("]"); err != nil {
			return nil, err
		}
	} else {
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		t.name = n
	}
	if p.isPunct("!") {
		t.nonNull = true
		if err := p.read(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (p *gqlParser) selectionSet() ([]*gqlField, *gqlError) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var out []*gqlField
	for !p.isPunct("}") {
		if p.isPunct("...") {
			return nil, gqlErrorAt(p.tok.line, p.tok.col, "Fragments are not supported by the GitLab simulator")
		}
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, p.unexpected("NAME")
	}
	return out, p.read()
}

func (p *gqlParser) field() (*gqlField, *gqlError) {
	f := &gqlField{line: p.tok.line, col: p.tok.col}
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	f.name = n
	if p.isPunct(":") {
		if err := p.read(); err != nil {
			return nil, err
		}
		f.alias = n
		if f.name, err = p.name(); err != nil {
			return nil, err
		}
	}
	if p.isPunct("(") {
		if err := p.read(); err != nil {
			return nil, err
		}
		for !p.isPunct(")") {
			a, err := p.arg(false)
			if err != nil {
				return nil, err
			}
			f.args = append(f.args, a)
		}
		if len(f.args) == 0 {
			return nil, p.unexpected("NAME")
		}
		if err := p.read(); err != nil {
			return nil, err
		}
	}
	if err := p.noDirectives(); err != nil {
		return nil, err
	}
	if p.isPunct("{") {
		f.hasSel = true
		if f.sel, err = p.selectionSet(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *gqlParser) arg(constant bool) (*gqlArg, *gqlError) {
	a := &gqlArg{line: p.tok.line, col: p.tok.col}
	var err *gqlError
	if a.name, err = p.name(); err != nil {
		return nil, err
	}
	if err := p.expect(":"); err != nil {
		return nil, err
	}
	a.val, err = p.value(constant)
	return a, err
}

// value parses a Value; constant refuses variables (default values).
func (p *gqlParser) value(constant bool) (*gqlValue, *gqlError) {
	t := p.tok
	v := &gqlValue{text: t.text, line: t.line, col: t.col}
	switch {
	case t.kind == tokPunct && t.text == "$" && !constant:
		if err := p.read(); err != nil {
			return nil, err
		}
		n, err := p.name()
		v.kind, v.text = valVar, n
		return v, err
	case t.kind == tokInt:
		v.kind = valInt
	case t.kind == tokFloat:
		v.kind = valFloat
	case t.kind == tokString:
		v.kind = valString
	case t.kind == tokName && (t.text == "true" || t.text == "false"):
		v.kind = valBool
	case t.kind == tokName && t.text == "null":
		v.kind = valNull
	case t.kind == tokName:
		v.kind = valEnum
	case t.kind == tokPunct && t.text == "[":
		v.kind = valList
		if err := p.read(); err != nil {
			return nil, err
		}
		for !p.isPunct("]") {
			e, err := p.value(constant)
			if err != nil {
				return nil, err
			}
			v.list = append(v.list, e)
		}
	case t.kind == tokPunct && t.text == "{":
		v.kind = valObject
		if err := p.read(); err != nil {
			return nil, err
		}
		for !p.isPunct("}") {
			a, err := p.arg(constant)
			if err != nil {
				return nil, err
			}
			v.fields = append(v.fields, a)
		}
	default:
		return nil, p.unexpected("value")
	}
	return v, p.read()
}
