package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/keyfile"
)

func runGenerateConfig(e *env, args []string) int {
	f := newFlagSet("generate-config", "--server-name NAME --config-path homeserver.yaml [options]",
		"Write a commented homeserver.yaml with fresh secrets, a signing key and the media\n"+
			"directory. An existing config file is left alone (unless --force) and an existing\n"+
			"signing key is never replaced; missing pieces of an existing setup are created.", e.stderr)
	var (
		serverName, configPath, dataDir, reportStats, publicBaseURL string
		openRegistration, force                                     bool
		port                                                        int
		bind                                                        stringList
	)
	f.StringVar(&serverName, "server-name", "", "the server name: the domain in user IDs, e.g. example.org")
	f.StringVar(&serverName, "H", "", "same as --server-name")
	f.StringVar(&configPath, "config-path", "", "where to write the configuration file (required)")
	f.StringVar(&configPath, "c", "", "same as --config-path")
	f.StringVar(&dataDir, "data-dir", "", "directory for the database, media and signing key (default: the config file's directory)")
	f.StringVar(&reportStats, "report-stats", "no", "value for report_stats, yes or no (Myelin sends no statistics either way)")
	f.BoolVar(&openRegistration, "open-registration", false, "let anyone register without verification; for local demos only")
	f.IntVar(&port, "listen-port", 8008, "port of the HTTP listener")
	f.Var(&bind, "bind-address", "address to listen on (repeatable; default ::1 and 127.0.0.1)")
	f.StringVar(&publicBaseURL, "public-baseurl", "", "URL clients use to reach the server (default https://<server name>/)")
	f.BoolVar(&force, "force", false, "replace an existing config file (the signing key is still kept)")
	pos, code, done := parseFlags(f, args)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "myelin generate-config: "+format+"\n", a...)
		return 1
	}
	if len(pos) > 0 {
		return fail("unexpected argument %q", pos[0])
	}
	if configPath == "" {
		return fail("--config-path is required, e.g. --config-path homeserver.yaml")
	}
	var stats bool
	switch reportStats {
	case "yes":
		stats = true
	case "no":
	default:
		return fail("--report-stats must be yes or no, not %q", reportStats)
	}

	configPath, err := filepath.Abs(configPath)
	if err != nil {
		return fail("%v", err)
	}
	configDir := filepath.Dir(configPath)
	if dataDir == "" {
		dataDir = configDir
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return fail("%v", err)
	}

	_, statErr := os.Stat(configPath)
	exists := statErr == nil
	if exists && !force {
		fmt.Fprintf(e.stdout, "Config file %s already exists; leaving it unchanged (use --force to replace it).\n", configPath)
	} else {
		if serverName == "" {
			return fail("--server-name is required to write a new config, e.g. --server-name example.org")
		}
		if err := os.MkdirAll(configDir, 0o755); err != nil {
			return fail("creating %s: %v", configDir, err)
		}
		out, err := config.Generate(config.GenerateOptions{
			ServerName: serverName, ConfigDir: configDir, DataDir: dataDir,
			ReportStats: stats, OpenRegistration: openRegistration, ListenPort: port,
			BindAddresses: bind, PublicBaseURL: publicBaseURL, Rand: e.rand,
		})
		if err != nil {
			return fail("%v", err)
		}
		if err := writeConfigFile(configPath, out, exists); err != nil {
			return fail("writing %s: %v", configPath, err)
		}
		verb := "Wrote"
		if exists {
			verb = "Replaced"
		}
		fmt.Fprintf(e.stdout, "%s %s for server %s.\n", verb, configPath, serverName)
		if openRegistration {
			fmt.Fprintln(e.stdout, "Open registration is on: anyone who can reach the server can create accounts.")
		}
	}

	// Whether new or existing, read the config back so the key and media
	// paths are the ones the server will use.
	cfg, _, err := config.Load(configPath)
	if err != nil {
		return fail("the config file does not load:\n%v", err)
	}
	if err := ensureSigningKey(e, cfg.SigningKeyPath); err != nil {
		return fail("%v", err)
	}
	if err := os.MkdirAll(cfg.MediaStorePath, 0o750); err != nil {
		return fail("creating media store: %v", err)
	}
	fmt.Fprintf(e.stdout, "Media store: %s\n", cfg.MediaStorePath)
	fmt.Fprintf(e.stdout, "\nStart the server with:\n  myelin serve -c %s\n", configPath)
	return 0
}

// writeConfigFile writes a new config with mode 0600 (it holds secrets).
// A new file is created exclusively; a forced replacement goes through a
// temporary file and a rename so a crash never leaves half a config.
func writeConfigFile(path string, data []byte, replace bool) error {
	if !replace {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".homeserver-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ensureSigningKey creates the signing key if it is missing and otherwise
// checks that the existing one reads; it never replaces a key.
func ensureSigningKey(e *env, path string) error {
	if keys, err := keyfile.ReadFile(path); err == nil {
		fmt.Fprintf(e.stdout, "Signing key %s already exists at %s; keeping it.\n", keys[0].KeyID(), path)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("existing signing key does not read: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	k, err := keyfile.Generate(e.rand)
	if err != nil {
		return err
	}
	if err := keyfile.WriteNew(path, k); err != nil {
		return fmt.Errorf("writing signing key: %v", err)
	}
	fmt.Fprintf(e.stdout, "Generated signing key %s at %s.\n", k.KeyID(), path)
	return nil
}
