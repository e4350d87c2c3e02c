package syncapi

import (
	"context"
	"fmt"
)

// A StreamAcker is a Stream whose data is deleted once delivered
// (to-device messages, send_to_device.md "Server behaviour"). On every sync
// with a since token it learns the position the client has shown it holds,
// even when the stream has nothing new and is not asked to Sync.
type StreamAcker interface {
	Stream
	// Ack tells the stream that the device holds everything up to pos (at
	// most Current()).
	Ack(ctx context.Context, userID, deviceID string, pos int64) error
}

// DeviceKeyCounts reports the figures about a device's own keys that every
// /sync response carries (end_to_end_encryption.md "Extensions to /sync").
// They are not a stream: clients read them from each response and upload
// keys when they run low.
type DeviceKeyCounts interface {
	KeyCounts(ctx context.Context, userID, deviceID string) (oneTime map[string]int, unusedFallback []string, err error)
}

// SetDeviceKeyCounts installs the source of the key figures. Call it while
// the server is wired, before the first sync.
func (s *Syncer) SetDeviceKeyCounts(k DeviceKeyCounts) { s.keyCounts = k }

// ackStreams passes since to the streams that delete what they delivered.
func (s *Syncer) ackStreams(ctx context.Context, req Request, since position) error {
	if req.DeviceID == "" {
		return nil
	}
	for i, st := range s.streams {
		a, ok := st.(StreamAcker)
		if !ok || since.streams[i] <= 0 {
			continue
		}
		// A token from the future (a restored database) proves nothing
		// about positions not yet handed out.
		pos := min(since.streams[i], st.Current())
		if err := a.Ack(ctx, req.UserID, req.DeviceID, pos); err != nil {
			return fmt.Errorf("syncapi: stream %s: %w", st.Key(), err)
		}
	}
	return nil
}

// addKeyCounts fills the device's key figures into resp.
func (s *Syncer) addKeyCounts(ctx context.Context, req Request, resp *Response) error {
	if s.keyCounts == nil || req.DeviceID == "" {
		return nil
	}
	otk, fallback, err := s.keyCounts.KeyCounts(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return fmt.Errorf("syncapi: key counts: %w", err)
	}
	resp.OTKCounts = otk
	if fallback != nil {
		resp.UnusedFallbackKeyTypes = fallback
	}
	return nil
}
