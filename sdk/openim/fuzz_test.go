package openim

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// codec is what requests and replies have in common.
type codec interface {
	DecodeJSON([]byte) error
	AppendJSON([]byte) []byte
}

// FuzzDecodeRequest checks that our request decoder and encoding/json agree on
// accept/reject and on the decoded value, and that re-encoding matches
// json.Marshal and round-trips.
func FuzzDecodeRequest(f *testing.F) {
	for i, ex := range catalogExamples(f) {
		f.Add(uint8(i), ex.request)
	}
	f.Add(uint8(12), []byte(`{"title":null,"TITLE":"x","userIDList":[],"platformID":-0}`))
	f.Add(uint8(30), []byte(`{"users":[{"userID":"a"},null,{"nickname":"\ud800\u00e9"}],"users":[{"ex":"y"}]}`))
	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		c := Commands()[int(idx)%len(Commands())]
		agree(t, data, NewRequest(c), false)
	})
}

// FuzzDecodeReply is FuzzDecodeRequest for replies, which have the nullable
// and nested fields (pointers, maps, base64).
func FuzzDecodeReply(f *testing.F) {
	for i, ex := range catalogExamples(f) {
		f.Add(uint8(i), ex.response)
	}
	f.Add(uint8(4), []byte(`{"options":{"b":true,"a":null},"options":{"c":false},"msgDataList":"aGk=","offlinePushInfo":{"title":"<t>"}}`))
	f.Add(uint8(34), []byte(`{"memberCallbackList":[{"userID":"a","roleLevel":20},{"userID":null}],"nextCode":1}`))
	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		c := Commands()[int(idx)%len(Commands())]
		agree(t, data, NewReply(c), true)
	})
}

func agree(t *testing.T, data []byte, ours codec, reply bool) {
	std := reflect.New(reflect.TypeOf(ours).Elem()).Interface()
	errO := ours.DecodeJSON(data)
	errS := json.Unmarshal(data, std)
	switch {
	case errO == nil && errS != nil:
		t.Fatalf("we accept what encoding/json rejects (%v): %q", errS, data)
	case errO != nil && errS == nil:
		// Documented difference: encoding/json also takes a []byte as an array
		// of numbers; msgDataList is the only []byte field.
		var fe *FieldError
		if reply && errors.As(errO, &fe) && strings.HasPrefix(fe.Field, "msgDataList") {
			return
		}
		t.Fatalf("we reject what encoding/json accepts: %v: %q", errO, data)
	case errO != nil:
		if !errors.Is(errO, ErrSyntax) && !errors.Is(errO, ErrType) {
			t.Fatalf("error matches no sentinel: %v", errO)
		}
		var se *json.SyntaxError
		if errors.As(errS, &se) != errors.Is(errO, ErrSyntax) {
			t.Fatalf("error classes differ: ours %v, encoding/json %v: %q", errO, errS, data)
		}
		return
	}
	if !reflect.DeepEqual(ours, std) {
		t.Fatalf("decoded values differ for %q\n ours %+v\n std  %+v", data, ours, std)
	}
	enc := ours.AppendJSON(nil)
	want, err := json.Marshal(std)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("AppendJSON differs from json.Marshal\n got %s\nwant %s", enc, want)
	}
	again := reflect.New(reflect.TypeOf(ours).Elem()).Interface().(codec)
	if err := again.DecodeJSON(enc); err != nil {
		t.Fatalf("our own output does not decode: %v: %s", err, enc)
	}
	if got := again.AppendJSON(nil); !bytes.Equal(got, enc) {
		t.Fatalf("round trip changed the encoding\n got %s\nwant %s", got, enc)
	}
}
