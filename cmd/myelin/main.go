// Command myelin is the Myelin homeserver and its operator tools.
//
//	myelin generate-config  write a new homeserver.yaml and signing key
//	myelin serve            run the homeserver
//	myelin register-user    create an account through shared-secret registration
//	myelin hash-password    print a bcrypt hash for a password
//	myelin list-users, deactivate-user, reset-password, set-admin,
//	       new-registration-token
//	                        manage accounts in the configuration's database
//	myelin media            media tools (purge-remote --before DATE)
//	myelin version          print the version
//	myelin container        entrypoint of the container image
package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what a subcommand may touch; tests supply their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	rand           io.Reader
	prompt         *prompter
	getenv         func(string) string // nil: os.Getenv
}

type command struct {
	name, summary string
	run           func(e *env, args []string) int
}

func commands() []command {
	return []command{
		{"generate-config", "write a new homeserver.yaml, signing key and media directory", runGenerateConfig},
		{"serve", "run the homeserver", runServe},
		{"register-user", "create an account using the registration shared secret", runRegisterUser},
		{"hash-password", "print a bcrypt hash of a password, as stored by the server", runHashPassword},
		{"list-users", "list the accounts in the configuration's database", runListUsers},
		{"deactivate-user", "deactivate an account (optionally erasing its profile)", runDeactivateUser},
		{"reset-password", "set a user's password and log out their devices", runResetPassword},
		{"set-admin", "grant or revoke server admin rights", runSetAdmin},
		{"new-registration-token", "create a registration token", runNewRegistrationToken},
		{"media", "operator media tools: purge-remote --before DATE", runMedia},
		{"config-reference", "print every configuration key with its type and default (docs/config.md)", runConfigReference},
		{"version", "print the version", runVersion},
		{"container", "entrypoint of the container image: generate a config on first start, then serve", runContainer},
		{"help", "show help for a command", nil},
	}
}

// run dispatches to a subcommand and returns the process exit code: 0 for
// success, 1 for failure, 2 for a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, rand: rand.Reader}
	e.prompt = newPrompter(stdin, stderr)
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			for _, c := range commands() {
				if c.name == args[1] && c.run != nil {
					return c.run(&env{stdin: stdin, stdout: stdout, stderr: stdout, rand: e.rand, prompt: e.prompt}, []string{"-h"})
				}
			}
			fmt.Fprintf(stderr, "myelin: unknown command %q\n", args[1])
			return 2
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "myelin: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Myelin, a Matrix homeserver.\n\nUsage: myelin <command> [options]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"myelin <command> -h\" for the options of a command.")
}
