package media

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// gatedOrigin is another server whose answers wait until the test opens
// the gate, and which counts the downloads asked of it.
type gatedOrigin struct {
	gate  chan struct{}
	calls atomic.Int32
	body  string
}

func (g *gatedOrigin) Download(ctx context.Context, origin, mediaID string, _ time.Duration) (*RemoteContent, error) {
	g.calls.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &RemoteContent{ContentType: "text/plain", UploadName: "r.txt", Body: io.NopCloser(strings.NewReader(g.body))}, nil
}

func newService(t testing.TB, db *sqldb.DB, fed Federation, maxSize int64) *Service {
	t.Helper()
	store, err := mediastore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{ServerName: "local.example", Store: store, Blobs: blobs, MaxUploadSize: maxSize,
		Authenticated: true, Federation: fed})
}

// Concurrent requests for one remote item make one fetch; every request
// gets the content, and later ones come from the cache.
func TestRemote_ConcurrentRequestsShareOneFetch(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		origin := &gatedOrigin{gate: make(chan struct{}), body: "remote bytes"}
		s := newService(t, db, origin, 1<<20)
		ctx := context.Background()
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.Open(ctx, "remote.example", "abc", OpenOptions{AllowRemote: true})
				if err != nil {
					errs <- err
					return
				}
				defer c.Object.Close()
				b, _ := io.ReadAll(c.Object)
				if string(b) != "remote bytes" {
					errs <- errors.New("wrong content: " + string(b))
				}
			}()
		}
		// The origin answers once every request waits for the fetch.
		for s.waitingFor("remote.example", "abc") < n {
			time.Sleep(time.Millisecond)
		}
		close(origin.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if c := origin.calls.Load(); c != 1 {
			t.Fatalf("%d fetches for %d concurrent requests, want 1", c, n)
		}
		before := origin.calls.Load()
		c, err := s.Open(ctx, "remote.example", "abc", OpenOptions{AllowRemote: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Object.Close()
		if origin.calls.Load() != before {
			t.Error("a cached item was fetched again")
		}
	})
}

// Remote media larger than max_upload_size is refused with 502
// M_TOO_LARGE (content repository "Security considerations") and not
// cached; allow_remote=false never fetches.
func TestRemote_TooLargeAndAllowRemote(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		origin := &gatedOrigin{gate: make(chan struct{}), body: "0123456789"}
		close(origin.gate)
		s := newService(t, db, origin, 5)
		ctx := context.Background()
		_, err := s.Open(ctx, "remote.example", "big", OpenOptions{AllowRemote: true})
		if e, ok := merr.As(err); !ok || e.Code != merr.CodeTooLarge || !errors.Is(err, merr.ErrBadGateway) {
			t.Errorf("too large: %v", err)
		}
		calls := origin.calls.Load()
		if _, err := s.Open(ctx, "remote.example", "other", OpenOptions{AllowRemote: false}); !errors.Is(err, merr.ErrNotFound) {
			t.Errorf("allow_remote=false: %v", err)
		}
		if origin.calls.Load() != calls {
			t.Error("allow_remote=false fetched")
		}
	})
}

// A fetch that fails for a reason of our own network (the IP guard
// refusing an address, say) is 502 with a message that does not tell the
// reason, which only the log gets.
func TestRemote_FailureAnswersWithoutItsCause(t *testing.T) {
	cause := errors.New("dial tcp 10.1.2.3:443: address blocked by the IP guard")
	err := remoteErr("remote.example", cause)
	e, ok := merr.As(err)
	if !ok || !errors.Is(err, merr.ErrBadGateway) || strings.Contains(e.Message, "10.1.2.3") || strings.Contains(e.Message, "blocked") {
		t.Errorf("answer: %+v", e)
	}
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("the cause is lost for the log: %v", err)
	}
}
