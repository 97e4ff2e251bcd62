package simulator

import (
	"strings"
	"testing"
)

// fieldTree prints a selection set compactly: alias:name(args){children}.
func fieldTree(sel []*gqlField) string {
	parts := make([]string, len(sel))
	for i, f := range sel {
		s := f.name
		if f.alias != "" {
			s = f.alias + ":" + s
		}
		if len(f.args) > 0 {
			args := make([]string, len(f.args))
			for k, a := range f.args {
				args[k] = a.name + ":" + literal(a.val)
			}
			s += "(" + strings.Join(args, ",") + ")"
		}
		if f.hasSel {
			s += "{" + fieldTree(f.sel) + "}"
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

func TestParseGraphQLDocuments(t *testing.T) {
	tests := []struct {
		name, src string
		kind, op  string
		vars      string // $name:Type=default, …
		tree      string
	}{
		{"shorthand query", `{ projects { nodes { id } } }`, "query", "", "", "projects{nodes{id}}"},
		{"named operation with variables and a default",
			"query Check($ids: [ID!], $since: Time, $n: Int = 30) {\n projects(ids: $ids, first: $n) { nodes { id } } }",
			"query", "Check", "$ids:[ID!] $since:Time $n:Int=30", "projects(ids:$ids,first:$n){nodes{id}}"},
		{"aliases and nested arguments",
			`{ a: project(fullPath: "g/app") { p: pipelines(first: 1, status: FAILED) { nodes { id iid } } } }`,
			"query", "", "", `a:project(fullPath:"g/app"){p:pipelines(first:1,status:FAILED){nodes{id iid}}}`},
		{"commas, comments and a byte order mark are ignored",
			"\uFEFF# leading comment\n{ projects(first: 2,, ) { nodes { id, fullPath } } # trailing\n}",
			"query", "", "", "projects(first:2){nodes{id fullPath}}"},
		{"list, object, null, boolean and float literals",
			`{ projects(ids: ["gid://gitlab/Project/1", "gid://gitlab/Project/2"], membership: true, search: null, x: {a: 1.5e3, b: [1 2]}) { count } }`,
			"query", "", "", `projects(ids:["gid://gitlab/Project/1", "gid://gitlab/Project/2"],membership:true,search:null,x:{...}){count}`},
		{"string escapes", `{ project(fullPath: "a\"b\\c\u00e9\n") { id } }`, "query", "", "", `project(fullPath:"a\"b\\cé\n"){id}`},
		{"block string with indentation removed", "{ project(fullPath: \"\"\"\n    g/\n      app\n  \"\"\") { id } }", "query", "", "",
			`project(fullPath:"g/\n  app"){id}`},
		{"mutation keyword is parsed", `mutation M { x { y } }`, "mutation", "M", "", "x{y}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parseGraphQL(tt.src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(doc.ops) != 1 {
				t.Fatalf("%d operations, want 1", len(doc.ops))
			}
			op := doc.ops[0]
			if op.kind != tt.kind || op.name != tt.op {
				t.Errorf("operation = %s %q, want %s %q", op.kind, op.name, tt.kind, tt.op)
			}
			var vars []string
			for _, v := range op.vars {
				s := "$" + v.name + ":" + v.typ.String()
				if v.def != nil {
					s += "=" + literal(v.def)
				}
				vars = append(vars, s)
			}
			if got := strings.Join(vars, " "); got != tt.vars {
				t.Errorf("variables = %q, want %q", got, tt.vars)
			}
			if got := fieldTree(op.sel); got != tt.tree {
				t.Errorf("tree = %s\nwant   %s", got, tt.tree)
			}
		})
	}
}

func TestParseGraphQLPositions(t *testing.T) {
	doc, err := parseGraphQL("query {\n  projects {\n    nodes { fullPath }\n  }\n}")
	if err != nil {
		t.Fatal(err)
	}
	f := doc.ops[0].sel[0].sel[0].sel[0]
	if f.name != "fullPath" || f.line != 3 || f.col != 13 {
		t.Fatalf("fullPath at %d:%d, want 3:13", f.line, f.col)
	}
}

func TestParseGraphQLErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"empty document", "  # nothing\n", "Unexpected end of document"},
		{"missing closing brace", "{ projects { nodes { id } }", "Expected NAME, actual: EOF at [1, 28]"},
		{"empty selection set", "{ projects { } }", `Expected NAME, actual: RCURLY ("}") at [1, 14]`},
		{"argument without value", "{ projects(first: ) { count } }", `Expected value, actual: RPAREN (")") at [1, 19]`},
		{"variable in a default value", "query($a: Int = $b) { x }", `Expected value, actual: VAR_SIGN ("$") at [1, 17]`},
		{"unterminated string", "{ project(fullPath: \"g/app) { id } }", "Unterminated string at [1, 21]"},
		{"number with a leading zero", "{ projects(first: 01) { count } }", `Parse error on "01" (INT) at [1, 19]`},
		{"unknown character", "{ projects % }", `Parse error on "%" (UNKNOWN_CHAR) at [1, 12]`},
		{"fragments are refused", "{ projects { ...f } }", "Fragments are not supported by the GitLab simulator"},
		{"directives are refused", "{ projects @include(if: true) { count } }", "Directives are not supported by the GitLab simulator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGraphQL(tt.src)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if err.Message != tt.want {
				t.Fatalf("error = %q, want %q", err.Message, tt.want)
			}
		})
	}
}

func FuzzParseGraphQL(f *testing.F) {
	for _, s := range []string{`{ a { b(c: $d, e: [1, "x", {f: null}]) } }`, `query Q($a: [ID!]! = ["1"]) { x }`, `"""`, `{ a(b: "\u12") }`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		doc, err := parseGraphQL(src)
		if (doc == nil) == (err == nil) {
			t.Fatalf("parse(%q) = %v, %v: want exactly one of a document and an error", src, doc, err)
		}
	})
}
