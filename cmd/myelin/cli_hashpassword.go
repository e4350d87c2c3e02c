package main

import (
	"fmt"

	"github.com/myelin-chat/myelin/internal/config"
	"golang.org/x/crypto/bcrypt"
)

// bcryptMaxInput is the longest input bcrypt uses; later bytes are ignored
// by the algorithm.
const bcryptMaxInput = 72

func runHashPassword(e *env, args []string) int {
	f := newFlagSet("hash-password", "[-p PASSWORD] [-c homeserver.yaml]",
		"Print the bcrypt hash the server would store for a password, using bcrypt_rounds\n"+
			"and password_config.pepper from the config when given. Without -p the password\n"+
			"is asked for (without echo on a terminal, else read from stdin).", e.stderr)
	var password, configPath string
	f.StringVar(&password, "password", "", "the password (visible in the process list; prefer the prompt)")
	f.StringVar(&password, "p", "", "same as --password")
	f.StringVar(&configPath, "config", "", "homeserver.yaml to take bcrypt_rounds and the pepper from")
	f.StringVar(&configPath, "c", "", "same as --config")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "myelin hash-password: "+format+"\n", a...)
		return 1
	}
	if len(pos) > 0 {
		return fail("unexpected argument %q", pos[0])
	}
	rounds, pepper := 12, ""
	if configPath != "" {
		cfg, _, err := config.Load(configPath)
		if err != nil {
			return fail("%v", err)
		}
		rounds, pepper = cfg.BcryptRounds, cfg.PasswordConfig.Pepper
	}
	if password == "" {
		var err error
		if password, err = e.prompt.newPassword(); err != nil {
			return fail("%v", err)
		}
	}
	// Synapse hashes password + pepper. bcrypt only uses the first 72
	// bytes (Python's bcrypt truncates silently; Go's refuses), so the
	// input is cut there: the hash then matches what Synapse stores and
	// what bcrypt.CompareHashAndPassword accepts for the full password.
	input := []byte(password + pepper)
	if len(input) > bcryptMaxInput {
		fmt.Fprintf(e.stderr, "note: bcrypt uses only the first %d bytes of the password and pepper\n", bcryptMaxInput)
		input = input[:bcryptMaxInput]
	}
	hash, err := bcrypt.GenerateFromPassword(input, rounds)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(e.stdout, string(hash))
	return 0
}
