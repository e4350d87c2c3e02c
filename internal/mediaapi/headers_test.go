package mediaapi

import "testing"

// client-server-api "Serving inline content": inline only for the listed
// types (parameters and case aside); names per RFC 6266.
func TestContentDisposition_InlineOnlyForTheSafeList(t *testing.T) {
	cases := []struct{ contentType, name, want string }{
		{"image/png", "", "inline"},
		{"Image/PNG; charset=binary", "", "inline"},
		{"text/html", "", "attachment"},
		{"image/svg+xml", "x.svg", "attachment; filename=x.svg"},
		{"application/javascript", "", "attachment"},
		{"text/xml", "", "attachment"},
		{"not a type", "", "attachment"},
		{"", "", "attachment"},
		{"audio/ogg", "voice message.ogg", `inline; filename="voice message.ogg"`},
		{"application/pdf", "Ωmega.pdf", "attachment; filename*=utf-8''%CE%A9mega.pdf"},
	}
	for _, tc := range cases {
		if got := ContentDisposition(tc.contentType, tc.name); got != tc.want {
			t.Errorf("ContentDisposition(%q, %q) = %q, want %q", tc.contentType, tc.name, got, tc.want)
		}
	}
}
