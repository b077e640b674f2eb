package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	sidecar "github.com/glpwinner/glp-sidecar"
)

// decodeWithEncodingJSON is how decodeConversion read a body before it
// read token by token: encoding/json into a map of raw values, then each
// value again. It is the reference the fuzz test below holds the tokenizer to.
func decodeWithEncodingJSON(data []byte) (conversionRequest, error) {
	var req conversionRequest
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		problem := "is not valid JSON"
		if typeErr := (*json.UnmarshalTypeError)(nil); errors.As(err, &typeErr) {
			problem = "must be a JSON object, not " + typeErr.Value
		}
		if len(bytes.TrimSpace(data)) == 0 {
			problem = "is empty; send a JSON object"
		}
		return req, invalid(map[string]string{"body": problem})
	}
	if obj == nil {
		return req, invalid(map[string]string{"body": "must be a JSON object"})
	}
	present := func(names []string) (string, json.RawMessage) {
		for _, n := range names {
			if raw, ok := obj[n]; ok && string(raw) != "null" {
				return n, raw
			}
		}
		return "", nil
	}
	kind := func(raw json.RawMessage) string {
		return kindName(jsontext.Value(raw).Kind())
	}
	bad := map[string]string{}
	for _, f := range conversionFields {
		name, raw := present(f.names)
		if raw == nil {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			bad[name] = "must be a string, not " + kind(raw)
			continue
		}
		if v, problem := f.check(s); problem != "" {
			bad[name] = problem
		} else {
			*f.dst(&req) = v
		}
	}
	if _, raw := present([]string{testModeName}); raw != nil {
		if err := json.Unmarshal(raw, &req.TestMode); err != nil {
			bad[testModeName] = "must be a boolean, not " + kind(raw)
		}
	}
	if len(bad) > 0 {
		return conversionRequest{}, invalid(bad)
	}
	return req, nil
}

// FuzzDecodeConversionAgreesWithEncodingJSON: for any body, the tokenizer
// accepts what encoding/json accepted, with the same values, and refuses
// what it refused, naming the same fields with the same words.
func FuzzDecodeConversionAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"glpClickId":"abc","email":"a@b.co","ip":"203.0.113.1","conversion_id":"o","testMode":true}`,
		`{"transaction_id":null,"glp_click_id":"g","sessionToken":"s","testMode":false}`,
		`{"email":"a@b.co","email":null}`, `{"email":null,"email":"a@b.co"}`, `{"glpClickId":"a","glpClickId":1}`,
		`{"glpClickId":{"x":[1,2]},"ip":[],"testMode":"yes","plan":{"a":[{}]}}`, `{"em\u0061il":"a@b.co"}`,
		`{"email":"\ud800@b.co"}`, "{\"glpClickId\":\"\xff\"}", `{"Email":"a@b.co"}`,
		`[]`, `null`, `"x"`, `1`, `true`, ``, ` `, `{} x`, `{`, `{"a":1,}`, `{"email":" A@B.CO "}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := decodeConversion(body)
		want, wantErr := decodeWithEncodingJSON(body)
		if got != want {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", body, got, want)
		}
		var g, w *sidecar.Error
		errors.As(gotErr, &g)
		errors.As(wantErr, &w)
		if (g == nil) != (w == nil) || g != nil && !reflect.DeepEqual(g.Fields, w.Fields) {
			t.Fatalf("%q: refused with %v, encoding/json with %v", body, gotErr, wantErr)
		}
	})
}
