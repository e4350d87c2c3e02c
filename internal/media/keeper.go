package media

import (
	"context"
	"database/sql"
	"io"

	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// BlobUser is a table besides the media rows that names content in the
// blob store (thumbnails, URL preview images): content it names is not
// deleted.
type BlobUser interface {
	// BlobInUse reports, in tx, whether a row names content sha.
	BlobInUse(ctx context.Context, tx *sql.Tx, sha string) (bool, error)
}

// Keeper is the only way content named by rows enters or leaves the blob
// store. Content is stored once per SHA-256, so an upload may name content
// that a deletion is about to remove; Keeper orders the two under the
// content's lock (mediastore.BlobTx): a new row and the commit of its
// content happen in one locked transaction, and a deletion checks that no
// row names the content and removes it in another. Whichever runs second
// sees what the first did, so a row never names deleted content.
type Keeper struct {
	store *mediastore.Store
	blobs blob.Store
	users []BlobUser

	// Test hooks (nil in production): staged runs after content is
	// staged, before its lock is taken; unused runs under a content's
	// lock once it is found unused, before it is deleted.
	staged func(key string)
	unused func(key string)
}

// NewKeeper returns the keeper of blobs whose rows are in store.
func NewKeeper(store *mediastore.Store, blobs blob.Store) *Keeper {
	return &Keeper{store: store, blobs: blobs}
}

// AddUser registers a table naming blobs. Users are added while the
// server is wired, before the first deletion.
func (k *Keeper) AddUser(u BlobUser) { k.users = append(k.users, u) }

// Blobs is the blob store, for reading.
func (k *Keeper) Blobs() blob.Store { return k.blobs }

// Keep reads r (at most maxSize bytes, else blob.ErrTooLarge) and stores
// it, running record in the transaction that commits it to write the rows
// naming it. When Keep returns nil, the content and the rows are durable.
func (k *Keeper) Keep(ctx context.Context, r io.Reader, maxSize int64, record func(tx *sql.Tx, info blob.Info) error) (blob.Info, error) {
	st, err := k.blobs.Stage(ctx, r, maxSize)
	if err != nil {
		return blob.Info{}, err
	}
	defer st.Discard()
	info := st.Info()
	if k.staged != nil {
		k.staged(info.Key)
	}
	err = k.store.BlobTx(ctx, info.Key, func(tx *sql.Tx) error {
		if err := st.Commit(ctx); err != nil {
			return err
		}
		return record(tx, info)
	})
	// A failed record leaves committed content no row names: the orphan
	// sweep reclaims it.
	return info, err
}

// Release deletes content sha unless a row still names it.
func (k *Keeper) Release(ctx context.Context, sha string) error {
	_, err := k.releaseOrphan(ctx, sha)
	return err
}

// releaseOrphan is Release, reporting whether the content was deleted.
func (k *Keeper) releaseOrphan(ctx context.Context, sha string) (bool, error) {
	if sha == "" {
		return false, nil
	}
	var gone bool
	err := k.store.BlobTx(ctx, sha, func(tx *sql.Tx) error {
		gone = false
		used, err := k.inUse(ctx, tx, sha)
		if err != nil || used {
			return err
		}
		if k.unused != nil {
			k.unused(sha)
		}
		gone = true
		return k.blobs.Delete(ctx, sha)
	})
	return gone, err
}

func (k *Keeper) inUse(ctx context.Context, tx *sql.Tx, sha string) (bool, error) {
	if used, err := k.store.SHA256InUseTx(ctx, tx, sha); err != nil || used {
		return used, err
	}
	for _, u := range k.users {
		if used, err := u.BlobInUse(ctx, tx, sha); err != nil || used {
			return used, err
		}
	}
	return false, nil
}
