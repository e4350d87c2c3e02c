package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// serverConfig is what the tool reads from the server's homeserver.yaml:
// the registration secret (to create users without open registration) and
// the bcrypt cost (to label the register scenario). It reads the file
// itself, with Synapse's key names, rather than the server's config
// package, so it works for any homeserver using those names.
type serverConfig struct {
	SharedSecret string
	// BcryptRounds is the configured cost, or 0 when the file does not
	// say (Synapse and Myelin then use 12).
	BcryptRounds int
}

// readServerConfigs reads the files in order; a later top-level key
// replaces an earlier one, as "myelin serve -c a -c b" merges them.
func readServerConfigs(paths []string) (serverConfig, error) {
	var out serverConfig
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return out, err
		}
		doc, err := topLevel(raw)
		if err != nil {
			return out, fmt.Errorf("%s: %w", p, err)
		}
		if v, ok := doc["registration_shared_secret"]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return out, fmt.Errorf("%s: registration_shared_secret is not a string", p)
			}
			out.SharedSecret = s
		}
		if v, ok := doc["registration_shared_secret_path"]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return out, fmt.Errorf("%s: registration_shared_secret_path is not a string", p)
			}
			if !filepath.IsAbs(s) {
				s = filepath.Join(filepath.Dir(p), s) // relative to the config file, as the server resolves it
			}
			secret, err := os.ReadFile(s)
			if err != nil {
				return out, err
			}
			out.SharedSecret = strings.TrimSpace(string(secret))
		}
		if v, ok := doc["bcrypt_rounds"]; ok && v != nil {
			n, ok := v.(int)
			if !ok {
				return out, fmt.Errorf("%s: bcrypt_rounds is not an integer", p)
			}
			out.BcryptRounds = n
		}
	}
	return out, nil
}

// bcryptLabel describes the server's bcrypt cost for the report.
func bcryptLabel(haveConfig bool, rounds int) string {
	switch {
	case !haveConfig:
		return "unknown"
	case rounds == 0:
		return "12 (default)"
	}
	return strconv.Itoa(rounds)
}

// topLevel decodes the top-level mapping of a YAML document. A key that
// appears twice keeps its last value, as the server's loader does (scripts
// append overrides to generated files), which plain yaml.Unmarshal into a
// map refuses.
func topLevel(raw []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(root.Content) == 0 {
		return out, nil // an empty file
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the top level is not a mapping")
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		var v any
		if err := m.Content[i+1].Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Content[i].Value, err)
		}
		out[m.Content[i].Value] = v
	}
	return out, nil
}
