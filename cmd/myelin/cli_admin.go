package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/users"
)

// The admin commands work on the configuration's database directly, with
// the users service's rules (those of the admin API), for operators
// without an HTTP client or an admin account. They change accounts, and
// delete with devices and accounts what the admin API deletes of other
// domains (end-to-end keys, to-device queues, dehydrated devices,
// pushers, key backups: server.OfflineAccountHooks); a running server's
// room engine is not theirs to drive, so a user deactivated here stays a
// member of their rooms (the admin API's deactivation also makes them
// leave).

// adminSession is an opened database with the users service over it.
type adminSession struct {
	db    *sqldb.DB
	users *users.Service
}

func openAdmin(ctx context.Context, configPath string) (*adminSession, error) {
	if configPath == "" {
		return nil, errors.New("-c homeserver.yaml is required")
	}
	cfg, _, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	dbCfg, err := server.DatabaseConfig(cfg)
	if err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, dbCfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	acct, err := accounts.New(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	opts, err := users.OptionsFromConfig(cfg)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	svc, err := users.New(acct, opts)
	if err == nil {
		// Deleted devices and accounts take their end-to-end data, pushers
		// and key backups with them, as through the admin API.
		err = server.OfflineAccountHooks(ctx, db, acct, svc, nil)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &adminSession{db: db, users: svc}, nil
}

// adminCommand parses the common flags (-c) and runs fn with the opened
// session and the positional arguments.
func adminCommand(e *env, f *flag.FlagSet, configPath *string, args []string, nargs int,
	fn func(ctx context.Context, a *adminSession, pos []string) error) int {
	f.StringVar(configPath, "config", "", "homeserver.yaml naming the database")
	f.StringVar(configPath, "c", "", "same as --config")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	if len(pos) != nargs {
		fmt.Fprintf(e.stderr, "myelin %s: expected %d argument(s), got %d\n", f.Name(), nargs, len(pos))
		f.Usage()
		return 2
	}
	ctx := context.Background()
	a, err := openAdmin(ctx, *configPath)
	if err == nil {
		defer a.db.Close()
		err = fn(ctx, a, pos)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "myelin %s: %v\n", f.Name(), err)
		return 1
	}
	return 0
}

// fullUserID accepts "@alice:example.org" or a bare localpart.
func (a *adminSession) fullUserID(s string) string {
	if strings.HasPrefix(s, "@") {
		return s
	}
	return "@" + s + ":" + string(a.users.ServerName())
}

func (a *adminSession) localUser(s string) (string, error) {
	userID := a.fullUserID(s)
	return userID, a.users.CheckLocalUser(userID, "not a user of this server: "+userID)
}

func runListUsers(e *env, args []string) int {
	f := newFlagSet("list-users", "-c homeserver.yaml [--deactivated] [--no-guests] [--admins] [--name TEXT]",
		"List the server's accounts, as GET /_synapse/admin/v2/users does.", e.stderr)
	var (
		configPath, name                  string
		deactivated, noGuests, adminsOnly bool
	)
	f.BoolVar(&deactivated, "deactivated", false, "include deactivated accounts")
	f.BoolVar(&noGuests, "no-guests", false, "leave out guest accounts")
	f.BoolVar(&adminsOnly, "admins", false, "only server admins")
	f.StringVar(&name, "name", "", "only users whose ID or display name contains this")
	return adminCommand(e, f, &configPath, args, 0, func(ctx context.Context, a *adminSession, _ []string) error {
		q := accounts.UserQuery{Name: name, IncludeGuests: !noGuests, IncludeDeactivated: deactivated, IncludeLocked: true,
			Limit: users.MaxUserPage}
		if adminsOnly {
			t := true
			q.Admins = &t
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER ID\tDISPLAY NAME\tADMIN\tGUEST\tDEACTIVATED\tLOCKED\tCREATED")
		for {
			page, total, err := a.users.ListUsers(ctx, q)
			if err != nil {
				return err
			}
			for _, u := range page {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\t%v\t%s\n", u.UserID, u.DisplayName, u.IsAdmin, u.IsGuest,
					u.Deactivated, u.Locked, time.UnixMilli(u.CreatedTS).UTC().Format(time.RFC3339))
			}
			q.Offset += len(page)
			if len(page) == 0 || int64(q.Offset) >= total {
				break
			}
		}
		return tw.Flush()
	})
}

func runDeactivateUser(e *env, args []string) int {
	f := newFlagSet("deactivate-user", "-c homeserver.yaml [--erase] USER",
		"Deactivate an account for good: its password, devices and tokens go, with\n"+
			"their end-to-end keys, to-device messages and pushers, and its key backups;\n"+
			"with --erase also its profile and account data. It stays a member of its rooms;\n"+
			"POST /_synapse/admin/v1/deactivate on a running server also makes it leave.", e.stderr)
	var (
		configPath string
		erase      bool
	)
	f.BoolVar(&erase, "erase", false, "also erase the profile and account data")
	return adminCommand(e, f, &configPath, args, 1, func(ctx context.Context, a *adminSession, pos []string) error {
		userID, err := a.localUser(pos[0])
		if err != nil {
			return err
		}
		if err := a.users.DeactivateByAdmin(ctx, userID, erase); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deactivated %s\n", userID)
		return nil
	})
}

func runResetPassword(e *env, args []string) int {
	f := newFlagSet("reset-password", "-c homeserver.yaml [-p PASSWORD] [--keep-devices] USER",
		"Set a user's password (asked for unless -p). Their devices are logged out\n"+
			"unless --keep-devices.", e.stderr)
	var (
		configPath, password string
		keep                 bool
	)
	f.StringVar(&password, "password", "", "the new password (visible in the process list; prefer the prompt)")
	f.StringVar(&password, "p", "", "same as --password")
	f.BoolVar(&keep, "keep-devices", false, "do not log out the user's devices")
	return adminCommand(e, f, &configPath, args, 1, func(ctx context.Context, a *adminSession, pos []string) error {
		userID, err := a.localUser(pos[0])
		if err != nil {
			return err
		}
		if password == "" {
			if password, err = e.prompt.newPassword(); err != nil {
				return err
			}
		}
		if err := a.users.ResetPassword(ctx, userID, password, !keep); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Password of %s changed\n", userID)
		return nil
	})
}

func runSetAdmin(e *env, args []string) int {
	f := newFlagSet("set-admin", "-c homeserver.yaml [--revoke] USER",
		"Make a user a server admin, or with --revoke no longer one.", e.stderr)
	var (
		configPath string
		revoke     bool
	)
	f.BoolVar(&revoke, "revoke", false, "take the admin rights away")
	return adminCommand(e, f, &configPath, args, 1, func(ctx context.Context, a *adminSession, pos []string) error {
		userID, err := a.localUser(pos[0])
		if err != nil {
			return err
		}
		grant := !revoke
		// No acting admin: the CLI's operator may demote anyone.
		if err := a.users.ModifyUser(ctx, "", userID, users.UserUpdate{Admin: &grant}); err != nil {
			return err
		}
		if grant {
			fmt.Fprintf(e.stdout, "%s is a server admin\n", userID)
		} else {
			fmt.Fprintf(e.stdout, "%s is no longer a server admin\n", userID)
		}
		return nil
	})
}

func runNewRegistrationToken(e *env, args []string) int {
	f := newFlagSet("new-registration-token", "-c homeserver.yaml [--token TOKEN | --length N] [--uses N] [--expires RFC3339]",
		"Create a registration token (for registration_requires_token) and print it,\n"+
			"as POST /_synapse/admin/v1/registration_tokens/new does.", e.stderr)
	var (
		configPath, token, expires string
		length                     int
		uses                       int64 = -1
	)
	f.StringVar(&token, "token", "", "the token (default: a random one)")
	f.IntVar(&length, "length", 0, "length of a random token (default 16, at most 64)")
	f.Int64Var(&uses, "uses", -1, "how many registrations it allows (default: unlimited)")
	f.StringVar(&expires, "expires", "", "when it stops being valid, e.g. 2030-01-02T15:04:05Z (default: never)")
	return adminCommand(e, f, &configPath, args, 0, func(ctx context.Context, a *adminSession, _ []string) error {
		n := users.NewRegistrationToken{Token: token, Length: length}
		if uses >= 0 {
			n.UsesAllowed = &uses
		}
		if expires != "" {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				return fmt.Errorf("--expires: %w", err)
			}
			ms := t.UnixMilli()
			n.ExpiryTime = &ms
		}
		t, err := a.users.CreateRegistrationToken(ctx, n)
		if err != nil {
			return err
		}
		limit := "unlimited uses"
		if t.UsesAllowed != nil {
			limit = strconv.FormatInt(*t.UsesAllowed, 10) + " use(s)"
		}
		until := "never expires"
		if t.ExpiryTime != nil {
			until = "valid until " + time.UnixMilli(*t.ExpiryTime).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%s\n(%s, %s)\n", t.Token, limit, until)
		return nil
	})
}
