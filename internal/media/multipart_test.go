package media

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/merr"
)

// answeringOrigin answers the federation media download with a fixed
// multipart body, and a Location fetch with a fixed plain body.
type answeringOrigin struct {
	multipart string
	fetched   []string
}

const testBoundary = "b0undary"

func (a *answeringOrigin) Stream(context.Context, fedclient.Request) (*fedclient.StreamResponse, error) {
	return &fedclient.StreamResponse{Status: 200,
		Header: http.Header{"Content-Type": {"multipart/mixed; boundary=" + testBoundary}},
		Body:   io.NopCloser(strings.NewReader(a.multipart))}, nil
}

func (a *answeringOrigin) FetchURL(_ context.Context, u string) (*fedclient.StreamResponse, error) {
	a.fetched = append(a.fetched, u)
	return &fedclient.StreamResponse{Status: 200, Header: http.Header{"Content-Type": {"image/png"},
		"Content-Disposition": {`inline; filename="r.png"`}}, Body: io.NopCloser(strings.NewReader("redirected"))}, nil
}

func parts(meta, second string) string {
	return "--" + testBoundary + "\r\nContent-Type: application/json\r\n\r\n" + meta + "\r\n--" + testBoundary +
		"\r\n" + second + "\r\n--" + testBoundary + "--\r\n"
}

// server-server-api "Content Repository": the answer is a JSON part and
// then the content, or a Location to fetch it from; a metadata part
// without bound is refused rather than read forever.
func TestFederationDownloader_ReadsMultipartAnswers(t *testing.T) {
	ctx := context.Background()
	read := func(o *answeringOrigin) (*RemoteContent, string, error) {
		d := &FederationDownloader{Client: o, MaxSize: 1000}
		rc, err := d.Download(ctx, "remote.example", "abc", time.Second)
		if err != nil {
			return nil, "", err
		}
		defer rc.Body.Close()
		b, _ := io.ReadAll(rc.Body)
		return rc, string(b), nil
	}
	o := &answeringOrigin{multipart: parts("{}", "Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A9.txt\r\n\r\nhello")}
	rc, body, err := read(o)
	if err != nil || body != "hello" || rc.ContentType != "text/plain" || rc.UploadName != "é.txt" {
		t.Errorf("content part: %+v %q %v", rc, body, err)
	}
	o = &answeringOrigin{multipart: parts("{}", "Location: https://cdn.example/x\r\n")}
	rc, body, err = read(o)
	if err != nil || body != "redirected" || rc.ContentType != "image/png" || len(o.fetched) != 1 || o.fetched[0] != "https://cdn.example/x" {
		t.Errorf("location part: %+v %q %v %v", rc, body, err, o.fetched)
	}
	o = &answeringOrigin{multipart: parts(strings.Repeat("x", 1<<20), "Content-Type: text/plain\r\n\r\nhello")}
	if _, _, err := read(o); !errors.Is(err, merr.ErrBadGateway) {
		t.Errorf("a 1 MiB metadata part: %v, want 502", err)
	}
}
