package abi

import (
	"reflect"
	"testing"
)

func TestHTTPEncoding(t *testing.T) {
	req := HTTPRequest{Method: "POST", URL: "https://a.example/x", Header: [][2]string{{"A", "1"}, {"A", "2"}, {"B", ""}}, Body: []byte("body")}
	b := AppendHTTPRequest(nil, &req)
	got, err := ParseHTTPRequest(b)
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("request round trip: %+v, %v", got, err)
	}
	resp := HTTPResponse{Status: 201, Header: [][2]string{{"Content-Type", "text/plain"}}}
	got2, err := ParseHTTPResponse(AppendHTTPResponse(nil, &resp))
	if err != nil || !reflect.DeepEqual(got2, resp) {
		t.Fatalf("response round trip: %+v, %v", got2, err)
	}
	for n := range len(b) {
		if _, err := ParseHTTPRequest(b[:n]); err == nil {
			t.Fatalf("truncated at %d: no error", n)
		}
	}
	if _, err := ParseHTTPRequest(append(b, 0)); err == nil {
		t.Fatal("a trailing byte: no error")
	}
	// A huge header count must not allocate for it.
	huge := appendU32(appendBytes(appendBytes(nil, "GET"), "u"), 1<<31)
	if _, err := ParseHTTPRequest(huge); err == nil {
		t.Fatal("a header count past the end: no error")
	}
}

func FuzzParseHTTPRequest(f *testing.F) {
	f.Add(AppendHTTPRequest(nil, &HTTPRequest{Method: "GET", URL: "http://x/", Header: [][2]string{{"a", "b"}}, Body: []byte{1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseHTTPRequest(b)
		if err != nil {
			return
		}
		if again := AppendHTTPRequest(nil, &r); string(again) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
