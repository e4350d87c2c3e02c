// Package blob stores media content by its SHA-256: each distinct content
// is kept once however many media IDs point at it. Store is the small
// interface the media service needs (put, ranged get, stat, delete); Disk
// implements it under media_store_path, and an object store can follow
// without touching the media service or its handlers.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned for a key the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// ErrTooLarge is returned by Put when the content exceeds its limit;
// nothing is stored.
var ErrTooLarge = errors.New("blob: content too large")

// Info describes stored content.
type Info struct {
	// Key is the lowercase hex SHA-256 of the content.
	Key  string
	Size int64
	// Created is when the content was first stored.
	Created time.Time
}

// Object is stored content opened for reading. Seek followed by Read is the
// ranged get: http.ServeContent answers Range requests with it, and an
// object store implements it with ranged reads of its own.
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// Staged is content read and hashed but not yet stored under its key:
// internal/media commits it under a lock of the key, in the transaction
// that records what names it, so a concurrent deletion of the same content
// cannot remove it between the two.
type Staged interface {
	// Info is the content's key and size (Created is zero).
	Info() Info
	// Commit stores the content under its key, durably; when the key is
	// held already, the stored copy stays. It may be called again (a
	// transaction run twice) and then finds the key held.
	Commit(ctx context.Context) error
	// Discard drops the staged copy; after Commit it does nothing.
	Discard()
}

// Store holds content by SHA-256. Implementations are safe for concurrent
// use.
type Store interface {
	// Stage reads r to its end and holds it aside, hashed. Content larger
	// than maxSize bytes is refused with ErrTooLarge (checked while
	// reading, never after holding it all). The caller Commits or
	// Discards it.
	Stage(ctx context.Context, r io.Reader, maxSize int64) (Staged, error)
	// Put is Stage then Commit, for content nothing else can delete
	// concurrently (tests, tools); internal/media commits under its lock.
	Put(ctx context.Context, r io.Reader, maxSize int64) (Info, error)
	// List returns up to limit stored keys greater than after, in
	// ascending order, for sweeps that resume where they stopped.
	List(ctx context.Context, after string, limit int) ([]Info, error)
	// Open opens content for reading; ErrNotFound if absent.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes content; ErrNotFound if absent.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes content; deleting absent content is not an error.
	Delete(ctx context.Context, key string) error
}
