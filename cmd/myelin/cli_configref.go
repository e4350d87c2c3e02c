package main

import "github.com/myelin-chat/myelin/internal/config"

func runConfigReference(e *env, args []string) int {
	fs := newFlagSet("config-reference", "", "Print the configuration reference (every key homeserver.yaml may hold, its type and default) as Markdown; docs/config.md is its output.", e.stderr)
	if _, code, done := parseFlags(fs, args); done {
		return code
	}
	_, _ = e.stdout.Write(config.ReferenceMarkdown())
	return 0
}
