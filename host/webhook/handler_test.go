package webhook

import "testing"

func TestBodyOperationID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"present", `{"callbackCommand":"x","operationID":"op-42","sendID":"a"}`, "op-42"},
		{"absent", `{"callbackCommand":"x"}`, ""},
		{"unterminated", `{"operationID":"op`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(bodyOperationID([]byte(tt.body))); got != tt.want {
				t.Errorf("bodyOperationID(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}
