package scenario

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/stats"
)

// RegisterParams size the registration scenario.
type RegisterParams struct {
	// Accounts is how many accounts to create, each registered and then
	// logged in once.
	Accounts int `json:"accounts"`
	// Concurrency is how many accounts are in progress at once (default 1).
	Concurrency int `json:"concurrency"`
}

// RegisterResult is the registration scenario's outcome. Password hashing
// (bcrypt) dominates both steps, so the figures depend on the server's
// bcrypt cost, which the tool reports next to them when it knows it.
type RegisterResult struct {
	Accounts    int    `json:"accounts"`
	Concurrency int    `json:"concurrency"`
	Method      string `json:"method"` // "dummy" (POST /register) or "shared-secret"
	Created     int    `json:"created"`
	Errors      int    `json:"errors"`
	FirstError  string `json:"first_error,omitempty"`
	// AccountsPerSecond counts registration plus login per account.
	AccountsPerSecond float64       `json:"accounts_per_second"`
	RegisterMS        stats.Summary `json:"register_ms"`
	LoginMS           stats.Summary `json:"login_ms"`
	ElapsedS          float64       `json:"elapsed_s"`
}

// Register: create Accounts accounts through registration and a password
// login each.
func Register(ctx context.Context, env *Env, p RegisterParams) (*RegisterResult, error) {
	if p.Accounts < 1 {
		return nil, fmt.Errorf("register: accounts must be at least 1")
	}
	if p.Concurrency < 1 {
		p.Concurrency = 1
	}
	stem := env.names("reg")
	res := &RegisterResult{Accounts: p.Accounts, Concurrency: p.Concurrency, Method: env.Registrar.Method()}
	var (
		mu         sync.Mutex
		reg, login []time.Duration
		errs       errorLog
		done       atomic.Int64
	)
	start := time.Now()
	err := forEach(ctx, p.Accounts, p.Concurrency, func(ctx context.Context, i int) error {
		name := stem + "-" + strconv.Itoa(i)
		t0 := time.Now()
		if _, err := env.Registrar.Register(ctx, name, env.password()); err != nil {
			errs.add(err)
		} else {
			t1 := time.Now()
			_, err := env.Conn.Login(ctx, name, env.password())
			t2 := time.Now()
			mu.Lock()
			reg = append(reg, t1.Sub(t0))
			if err != nil {
				errs.add(err)
			} else {
				login = append(login, t2.Sub(t1))
			}
			mu.Unlock()
		}
		if n, first := errs.count(); n > maxErrors(p.Accounts) {
			return fmt.Errorf("register: %w (%d): first: %s", errAborted, n, first)
		}
		env.progress("register + login", int(done.Add(1)), p.Accounts, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	res.Created = len(login)
	res.Errors, res.FirstError = errs.count()
	res.RegisterMS = stats.Summarize(stats.Millis(reg))
	res.LoginMS = stats.Summarize(stats.Millis(login))
	res.ElapsedS = seconds(elapsed)
	res.AccountsPerSecond = float64(res.Created) / elapsed.Seconds()
	return res, nil
}
