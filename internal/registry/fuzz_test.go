package registry

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// parseSeeds are valid and broken registries for the fuzz tests.
var parseSeeds = []string{
	minimalRegistry,
	withExtensions(stacklokExtension(`"status":"active","tags":["database","sql"]`)),
	withExtensions(`{"com.example":"text","io.github.stacklok":{"x":{"status":"active","tags":[1,"a-b"]}}}`),
	withData(`{"servers":[],"skills":[{"namespace":"io.test","name":"pdf","description":"d","version":"1.0.0"}]}`),
	withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","Description":""}`),
	withExtensions(`{"com.example":{"big":1e400,"small":-0.5e-3}}`),
	"",
	" ",
	"null",
	"[]",
	"{}",
	`{"version":`,
	`{"version": tru}`,
	minimalRegistry + " {}",
	"{\"version\":\"1.0.0\",\"x\":\"\xff\\u00e9\\ud800\"}",
}

func FuzzParse(f *testing.F) {
	for _, seed := range parseSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		reg, err := Parse(raw)
		if err == nil && (reg == nil || len(reg.Data.Servers) == 0) {
			t.Fatalf("Parse succeeded without servers: %+v", reg)
		}
		if err != nil && reg != nil {
			t.Fatalf("Parse returned a registry and the error %v", err)
		}
	})
}

// FuzzDecodeJSON holds the fast tree builder to encoding/json: for every
// input json.Valid accepts, both build the same tree.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range parseSeeds {
		f.Add([]byte(seed))
	}
	for _, seed := range []string{
		`{"a":1,"a":2,"b":[true,false,null,{},[]],"c":"\"\\\/\b\f\n\r\t\u0041"}`,
		`  [ 1 , -0.0 , 1E+10 , 2e-5 , 123456789012345678901234567890 ]  `,
		"\"caf\u00e9 \xe2\x82\xac \xc3\x28 \\ud83d\\ude00\"",
		`{"ключ":"значение","":""}`,
		`[1e308, 1.7976931348623157e308, 1.8e308, -1e400, 1e-400, 0e999999]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, overflow, gotErr := decodeJSON(raw)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want any
		wantErr := dec.Decode(&want)
		if !json.Valid(raw) {
			if gotErr == nil {
				t.Fatalf("decodeJSON accepted invalid JSON %q", raw)
			}
			return
		}
		if gotErr != nil || wantErr != nil {
			t.Fatalf("valid JSON %q: decodeJSON error %v, encoding/json error %v", raw, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("JSON %q:\ndecodeJSON    %#v\nencoding/json %#v", raw, got, want)
		}
		var floats any
		if wantOverflow := json.Unmarshal(raw, &floats) != nil; overflow != wantOverflow {
			t.Fatalf("JSON %q: overflow %v, but json.Unmarshal into float64 numbers failed: %v", raw, overflow, wantOverflow)
		}
	})
}
