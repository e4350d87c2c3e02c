package harness

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExchange_StringNamesTheServerAndCutsLongBodies(t *testing.T) {
	long := []byte(strings.Repeat("x", 3000))
	tests := []struct {
		name string
		x    Exchange
		want string
	}{
		{"one server, no request body",
			Exchange{Method: "GET", Path: "/v", Status: 200, RespBody: []byte(`{}`)},
			"GET /v\n  -> 200 {}"},
		{"labelled server, request body",
			Exchange{Server: "hs1", Method: "PUT", Path: "/s", ReqBody: []byte(`{"a":1}`), Status: 403, RespBody: []byte(`{"errcode":"M_FORBIDDEN"}`)},
			"hs1: PUT /s {\"a\":1}\n  -> 403 {\"errcode\":\"M_FORBIDDEN\"}"},
		{"response body over 2048 bytes",
			Exchange{Method: "GET", Path: "/big", Status: 200, RespBody: long},
			"GET /big\n  -> 200 " + strings.Repeat("x", 2048) + "... (3000 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExchange_ErrcodeOfAMatrixErrorBody(t *testing.T) {
	for body, want := range map[string]string{
		`{"errcode":"M_FORBIDDEN","error":"no"}`: "M_FORBIDDEN",
		`{"event_id":"$a"}`:                      "",
		`not json`:                               "",
	} {
		if got := (&Exchange{RespBody: []byte(body)}).Errcode(); got != want {
			t.Errorf("Errcode of %s = %q, want %q", body, got, want)
		}
	}
}

// Do sends JSON with the access token as a Bearer header (client-server-api,
// "Using access tokens"); without a body it sends no Content-Type.
func TestEndpoint_DoSendsJSONAndTheAccessToken(t *testing.T) {
	type seen struct{ method, path, auth, ctype, body string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, `{"errcode":"M_TEA"}`)
	}))
	defer srv.Close()
	e := Endpoint{Label: "hs1", URL: srv.URL, Client: srv.Client()}

	x, err := e.Do(context.Background(), "tok", "POST", "/p", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	want := seen{"POST", "/p", "Bearer tok", "application/json", `{"a":1}`}
	if s := <-got; s != want {
		t.Errorf("server saw %+v, want %+v", s, want)
	}
	if x.Server != "hs1" || x.Status != http.StatusTeapot || string(x.ReqBody) != `{"a":1}` || x.Errcode() != "M_TEA" {
		t.Errorf("exchange = %+v", x)
	}

	if _, err := e.Do(context.Background(), "", "GET", "/q", nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != (seen{"GET", "/q", "", "", ""}) {
		t.Errorf("a bodiless request without a token: server saw %+v", s)
	}
}

func TestEndpoint_SendKeepsTheBytesAndTheHeader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Header.Get("Authorization") + " " + string(b)
	}))
	defer srv.Close()
	body := []byte(`{ "spaced" : true }`)
	x, err := Endpoint{URL: srv.URL}.Send(context.Background(), "PUT", "/r", body, http.Header{"Authorization": {"X-Matrix origin=a"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != `X-Matrix origin=a { "spaced" : true }` {
		t.Errorf("server saw %q", s)
	}
	if x.Status != http.StatusOK {
		t.Errorf("status %d", x.Status)
	}
}

func TestEndpoint_TransportErrorNamesServerAndRequest(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Endpoint{Label: "hs2", URL: url}.Do(context.Background(), "", "GET", "/gone", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "hs2: GET /gone: ") {
		t.Errorf("error = %v, want one starting with %q", err, "hs2: GET /gone: ")
	}
}
