package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Disk stores content as files under a root directory:
// <root>/content/ab/cd/abcdef… by SHA-256, written first to <root>/tmp and
// renamed into place, so a reader never sees a partial file.
type Disk struct {
	root string
}

// NewDisk returns a Disk rooted at dir, creating its directories. Partial
// files a crash left in tmp are removed.
func NewDisk(dir string) (*Disk, error) {
	d := &Disk{root: dir}
	if err := os.MkdirAll(d.tmpDir(), 0o750); err != nil {
		return nil, fmt.Errorf("blob: media store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "content"), 0o750); err != nil {
		return nil, fmt.Errorf("blob: media store %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(d.tmpDir()); err == nil {
		for _, e := range entries {
			_ = os.Remove(filepath.Join(d.tmpDir(), e.Name()))
		}
	}
	return d, nil
}

func (d *Disk) tmpDir() string { return filepath.Join(d.root, "tmp") }

// path is where content with this key lives; "" for a key that is not a
// SHA-256 in lowercase hex, so no key can name another file.
func (d *Disk) path(key string) string {
	if len(key) != sha256.Size*2 {
		return ""
	}
	for _, c := range key {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return filepath.Join(d.root, "content", key[:2], key[2:4], key)
}

// Put implements Store: the body streams to a temporary file while it is
// hashed, is synced, and is renamed to its content-addressed path (whose
// directory is synced too).
func (d *Disk) Put(ctx context.Context, r io.Reader, maxSize int64) (Info, error) {
	f, err := os.CreateTemp(d.tmpDir(), "upload-*")
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	h := sha256.New()
	// One byte past the limit tells "exactly maxSize" from "more".
	n, err := io.Copy(io.MultiWriter(f, h), &ctxReader{ctx: ctx, r: io.LimitReader(r, maxSize+1)})
	if err != nil {
		return Info{}, err
	}
	if n > maxSize {
		return Info{}, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	key := hex.EncodeToString(h.Sum(nil))
	dst := d.path(key)
	if st, err := os.Stat(dst); err == nil && st.Size() == n {
		// Same content is held already: keep the stored copy.
		_ = os.Remove(tmp)
		done = true
		return Info{Key: key, Size: n, Created: st.ModTime()}, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	done = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(dst)
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Key: key, Size: n, Created: st.ModTime()}, nil
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: syncing %s: %w", dir, err)
	}
	return nil
}

// Open implements Store.
func (d *Disk) Open(_ context.Context, key string) (Object, error) {
	p := d.path(key)
	if p == "" {
		return nil, ErrNotFound
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &diskObject{File: f, info: Info{Key: key, Size: st.Size(), Created: st.ModTime()}}, nil
}

type diskObject struct {
	*os.File
	info Info
}

func (o *diskObject) Info() Info { return o.info }

// Stat implements Store.
func (d *Disk) Stat(_ context.Context, key string) (Info, error) {
	p := d.path(key)
	if p == "" {
		return Info{}, ErrNotFound
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, ErrNotFound
	} else if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Key: key, Size: st.Size(), Created: st.ModTime()}, nil
}

// Delete implements Store.
func (d *Disk) Delete(_ context.Context, key string) error {
	p := d.path(key)
	if p == "" {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// ctxReader stops a copy when its context ends (a client that went away).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
