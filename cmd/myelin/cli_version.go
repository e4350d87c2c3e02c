package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func runVersion(e *env, args []string) int {
	fs := newFlagSet("version", "", "Print the version of this binary.", e.stderr)
	if _, code, done := parseFlags(fs, args); done {
		return code
	}
	fmt.Fprintf(e.stdout, "myelin %s (%s, %s/%s)\n", currentVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// currentVersion is the version stamped at link time, else the module
// version Go recorded, else "dev".
func currentVersion() string {
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return v
}
