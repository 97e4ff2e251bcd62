package simulator

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Static validation of a GraphQL operation against the simulator's schema,
// with graphql-ruby's messages, and coercion of argument and variable
// values (spec.graphql.org, "Validation" and "Input Coercion").

// validate checks the operation against the schema (graphql-ruby's static
// validation rules that matter here), coerces the variables and resolves
// every field's arguments, collecting errors in x.errs.
func (x *gqlExec) validate(rawVars map[string]json.RawMessage) {
	x.vars = map[string]any{}
	declared := map[string]*gqlVarDef{}
	for _, v := range x.op.vars {
		declared[v.name] = v
		if !isInputType(v.typ.namedType()) {
			x.errs = append(x.errs, gqlErrorAt(v.line, v.col, "%s isn't a defined input type (on $%s)", v.typ.namedType(), v.name))
			continue
		}
		raw, given := rawVars[v.name]
		var val any
		var problem string
		switch {
		case given:
			var decoded any
			_ = json.Unmarshal(raw, &decoded)
			val, problem = coerceJSON(decoded, v.typ)
		case v.def != nil:
			val, problem = coerceLiteral(v.def, v.typ, nil)
		case v.typ.nonNull:
			problem = "Expected value to not be null"
		default:
			continue
		}
		if problem != "" {
			var shown any
			_ = json.Unmarshal(raw, &shown)
			x.errs = append(x.errs, &gqlError{
				Message:    fmt.Sprintf("Variable $%s of type %s was provided invalid value", v.name, v.typ),
				Locations:  []gqlLocation{{Line: v.line, Column: v.col}},
				Extensions: map[string]any{"value": shown, "problems": []map[string]any{{"path": []any{}, "explanation": problem}}},
			})
			continue
		}
		x.vars[v.name] = val
	}
	x.checkSelections("Query", x.op.sel, nil, declared)
	for _, v := range x.op.vars {
		if !x.used[v.name] {
			x.errs = append(x.errs, gqlErrorAt(v.line, v.col, "Variable $%s is declared by %s but not used", v.name, x.opName))
		}
	}
}

func isInputType(name string) bool {
	_, enum := schema.enums[name]
	return gqlScalars[name] || enum
}

func (x *gqlExec) checkSelections(typeName string, sel []*gqlField, path []any, declared map[string]*gqlVarDef) {
	for _, f := range sel {
		fpath := append(append([]any(nil), path...), f.key())
		if f.name == "__typename" {
			if f.hasSel {
				x.errs = append(x.errs, gqlErrorAt(f.line, f.col, "Selections can't be made on scalars (field '__typename' returns String but has selections [%s])", selNames(f.sel)))
			}
			continue
		}
		def := schema.objects[typeName][f.name]
		if def == nil {
			x.errs = append(x.errs, &gqlError{
				Message:   fmt.Sprintf("Field '%s' doesn't exist on type '%s'", f.name, typeName),
				Locations: []gqlLocation{{Line: f.line, Column: f.col}}, Path: append([]any{"query"}, fpath...),
				Extensions: map[string]any{"code": "undefinedField", "typeName": typeName, "fieldName": f.name},
			})
			continue
		}
		args := map[string]any{}
		for _, a := range f.args {
			t := def.args[a.name]
			if t == nil {
				x.errs = append(x.errs, &gqlError{
					Message:   fmt.Sprintf("Field '%s' doesn't accept argument '%s'", f.name, a.name),
					Locations: []gqlLocation{{Line: a.line, Column: a.col}}, Path: append([]any{"query"}, append(fpath, a.name)...),
					Extensions: map[string]any{"code": "argumentNotAccepted", "name": f.name, "typeName": "Field", "argumentName": a.name},
				})
				continue
			}
			if !x.checkVarUses(a.val, t, a.name, declared) {
				continue
			}
			v, problem := coerceLiteral(a.val, t, x.vars)
			if problem != "" {
				x.errs = append(x.errs, gqlErrorAt(a.line, a.col, "Argument '%s' on Field '%s' has an invalid value (%s). Expected type '%s'.", a.name, f.name, literal(a.val), t))
				continue
			}
			if v != nil || a.val.kind == valNull {
				args[a.name] = v
			}
		}
		for name, t := range def.args {
			if _, ok := args[name]; t.nonNull && !ok {
				x.errs = append(x.errs, gqlErrorAt(f.line, f.col, "Field '%s' is missing required arguments: %s", f.name, name))
			}
		}
		x.args[f] = args
		target := def.typ.namedType()
		_, object := schema.objects[target]
		switch {
		case object && !f.hasSel:
			x.errs = append(x.errs, gqlErrorAt(f.line, f.col, "Field must have selections (field '%s' returns %s but has no selections. Did you mean '%s { ... }'?)", f.name, def.typ, f.name))
		case !object && f.hasSel:
			x.errs = append(x.errs, gqlErrorAt(f.line, f.col, "Selections can't be made on scalars (field '%s' returns %s but has selections [%s])", f.name, def.typ, selNames(f.sel)))
		case object:
			x.checkSelections(target, f.sel, fpath, declared)
		}
	}
}

func selNames(sel []*gqlField) string {
	names := make([]string, len(sel))
	for i, f := range sel {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// checkVarUses checks every variable in v: declared, and of a type allowed
// where it is used (spec: "All Variable Usages Are Allowed").
func (x *gqlExec) checkVarUses(v *gqlValue, t *gqlTypeRef, arg string, declared map[string]*gqlVarDef) bool {
	switch v.kind {
	case valList:
		elem := t
		if t.elem != nil {
			elem = t.elem
		}
		ok := true
		for _, e := range v.list {
			ok = x.checkVarUses(e, elem, arg, declared) && ok
		}
		return ok
	case valVar:
	default:
		return true
	}
	x.used[v.text] = true
	d := declared[v.text]
	if d == nil {
		x.errs = append(x.errs, gqlErrorAt(v.line, v.col, "Variable $%s is used by %s but not declared", v.text, x.opName))
		return false
	}
	if problem := varFits(d.typ, t, d.def != nil); problem != "" {
		x.errs = append(x.errs, gqlErrorAt(v.line, v.col, "%s on variable $%s and argument %s (%s / %s)", problem, v.text, arg, d.typ, t))
		return false
	}
	return true
}

// varFits is "" when a variable of type vt may be used where lt is expected.
func varFits(vt, lt *gqlTypeRef, hasDefault bool) string {
	if lt.nonNull && !vt.nonNull && !hasDefault {
		return "Nullability mismatch"
	}
	for {
		if (vt.elem == nil) != (lt.elem == nil) {
			return "List dimension mismatch"
		}
		if vt.elem == nil {
			break
		}
		vt, lt = vt.elem, lt.elem
		if lt.nonNull && !vt.nonNull {
			return "Nullability mismatch"
		}
	}
	if vt.name != lt.name {
		return "Type mismatch"
	}
	return ""
}

// literal prints a value as it was written.
func literal(v *gqlValue) string {
	switch v.kind {
	case valVar:
		return "$" + v.text
	case valString:
		return strconv.Quote(v.text)
	case valList:
		parts := make([]string, len(v.list))
		for i, e := range v.list {
			parts[i] = literal(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case valObject:
		return "{...}"
	}
	return v.text
}

// coerceLiteral turns an argument value into its Go value (string, int64,
// bool, time.Time, enum name, []any; nil for null or an unset variable)
// or says why it cannot be one of type t.
func coerceLiteral(v *gqlValue, t *gqlTypeRef, vars map[string]any) (any, string) {
	if v.kind == valVar {
		return vars[v.text], ""
	}
	if v.kind == valNull {
		if t.nonNull {
			return nil, "Expected value to not be null"
		}
		return nil, ""
	}
	if t.elem != nil {
		items := v.list
		if v.kind != valList {
			items = []*gqlValue{v} // input coercion: one value is a list of one
		}
		out := make([]any, 0, len(items))
		for _, e := range items {
			ev, problem := coerceLiteral(e, t.elem, vars)
			if problem != "" {
				return nil, problem
			}
			out = append(out, ev)
		}
		return out, ""
	}
	switch t.name {
	case "Int":
		if v.kind == valInt {
			if n, err := strconv.ParseInt(v.text, 10, 32); err == nil {
				return n, ""
			}
		}
	case "ID":
		if v.kind == valString || v.kind == valInt {
			return v.text, ""
		}
	case "String":
		if v.kind == valString {
			return v.text, ""
		}
	case "Boolean":
		if v.kind == valBool {
			return v.text == "true", ""
		}
	case "Time":
		if v.kind == valString {
			if tm, ok := parseISOTime(v.text); ok {
				return tm, ""
			}
		}
	default:
		if v.kind == valEnum && contains(schema.enums[t.name], v.text) {
			return v.text, ""
		}
	}
	return nil, fmt.Sprintf("Could not coerce value %s to %s", literal(v), t.name)
}

// coerceJSON coerces a variable's JSON value to type t.
func coerceJSON(v any, t *gqlTypeRef) (any, string) {
	if v == nil {
		if t.nonNull {
			return nil, "Expected value to not be null"
		}
		return nil, ""
	}
	if t.elem != nil {
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		out := make([]any, 0, len(items))
		for _, e := range items {
			ev, problem := coerceJSON(e, t.elem)
			if problem != "" {
				return nil, problem
			}
			out = append(out, ev)
		}
		return out, ""
	}
	bad := fmt.Sprintf("Could not coerce value %s to %s", gqlJSONText(v), t.name)
	switch t.name {
	case "Int":
		if f, ok := v.(float64); ok && f == float64(int32(f)) {
			return int64(f), ""
		}
	case "ID":
		switch x := v.(type) {
		case string:
			return x, ""
		case float64:
			if x == float64(int64(x)) {
				return strconv.FormatInt(int64(x), 10), ""
			}
		}
	case "String":
		if s, ok := v.(string); ok {
			return s, ""
		}
	case "Boolean":
		if b, ok := v.(bool); ok {
			return b, ""
		}
	case "Time":
		if s, ok := v.(string); ok {
			if tm, ok := parseISOTime(s); ok {
				return tm, ""
			}
		}
	default:
		if s, ok := v.(string); ok && contains(schema.enums[t.name], s) {
			return s, ""
		}
	}
	return nil, bad
}

func gqlJSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
