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

// Stage implements Store: the body streams to a temporary file while it is
// hashed, and is synced.
func (d *Disk) Stage(ctx context.Context, r io.Reader, maxSize int64) (Staged, error) {
	f, err := os.CreateTemp(d.tmpDir(), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st := &diskStaged{d: d, tmp: f.Name()}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			st.Discard()
		}
	}()
	h := sha256.New()
	// One byte past the limit tells "exactly maxSize" from "more".
	n, err := io.Copy(io.MultiWriter(f, h), &ctxReader{ctx: ctx, r: io.LimitReader(r, maxSize+1)})
	if err != nil {
		return nil, err
	}
	if n > maxSize {
		return nil, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	ok = true
	st.info = Info{Key: hex.EncodeToString(h.Sum(nil)), Size: n}
	return st, nil
}

type diskStaged struct {
	d    *Disk
	tmp  string
	info Info
}

func (s *diskStaged) Info() Info { return s.info }

// Commit implements Staged: the temporary file is renamed to its
// content-addressed path (whose directory is synced too), unless that
// content is there already.
func (s *diskStaged) Commit(context.Context) error {
	dst := s.d.path(s.info.Key)
	if st, err := os.Stat(dst); err == nil && st.Size() == s.info.Size {
		s.Discard()
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if err := os.Rename(s.tmp, dst); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

func (s *diskStaged) Discard() { _ = os.Remove(s.tmp) }

// Put implements Store.
func (d *Disk) Put(ctx context.Context, r io.Reader, maxSize int64) (Info, error) {
	st, err := d.Stage(ctx, r, maxSize)
	if err != nil {
		return Info{}, err
	}
	defer st.Discard()
	if err := st.Commit(ctx); err != nil {
		return Info{}, err
	}
	return d.Stat(ctx, st.Info().Key)
}

// List implements Store: the two levels of directories and their files
// are read in name order, skipping the directories wholly at or before
// after.
func (d *Disk) List(_ context.Context, after string, limit int) ([]Info, error) {
	var out []Info
	root := filepath.Join(d.root, "content")
	l1, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	for _, a := range l1 {
		if !a.IsDir() || len(a.Name()) != 2 || a.Name() < prefix(after, 0) {
			continue
		}
		l2, err := os.ReadDir(filepath.Join(root, a.Name()))
		if err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
		for _, b := range l2 {
			if !b.IsDir() || len(b.Name()) != 2 || a.Name()+b.Name() < prefix(after, 2) {
				continue
			}
			files, err := os.ReadDir(filepath.Join(root, a.Name(), b.Name()))
			if err != nil {
				return nil, fmt.Errorf("blob: %w", err)
			}
			for _, f := range files {
				key := f.Name()
				if key <= after || d.path(key) == "" || key[:4] != a.Name()+b.Name() {
					continue
				}
				fi, err := f.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted meanwhile
				} else if err != nil {
					return nil, fmt.Errorf("blob: %w", err)
				}
				out = append(out, Info{Key: key, Size: fi.Size(), Created: fi.ModTime()})
				if len(out) >= limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// prefix is the first n+2 characters of key, or key when shorter: the
// directory names a listing after key can skip.
func prefix(key string, n int) string {
	return key[:min(len(key), n+2)]
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
