package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, merges and validates configuration files. Each path is a
// YAML file or a directory, which stands for the *.yaml files directly in
// it (not hidden ones, not subdirectories) in lexical order. Files merge in
// order with a shallow top-level merge, as Synapse does: a later file's
// top-level key replaces the earlier value whole.
//
// Warnings (unknown or unsupported keys, deprecated names, risky settings)
// are returned even when loading fails. The error, when not nil, joins one
// *FieldError per invalid value.
func Load(paths ...string) (*Config, []Warning, error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("no configuration file given; pass the path of homeserver.yaml (e.g. -c homeserver.yaml)")
	}
	d := &decoder{}
	files, err := d.expand(paths)
	if err != nil {
		return nil, d.warnings, err
	}
	if len(files) == 0 {
		return nil, d.warnings, fmt.Errorf("no *.yaml files found in %s", strings.Join(paths, ", "))
	}

	// Shallow merge: remember, per top-level key, the winning key node,
	// value node and file, in order of first appearance.
	type entry struct {
		k, v *yaml.Node
		file string
	}
	var order []string
	merged := map[string]entry{}
	for _, f := range files {
		root, err := readYAML(f)
		if err != nil {
			return nil, d.warnings, err
		}
		if root == nil {
			d.warnings = append(d.warnings, Warning{File: f, Message: "file is empty"})
			continue
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, d.warnings, &FieldError{File: f, Line: k.Line, Key: "(top level)", Msg: "keys must be plain strings"}
			}
			if prev, dup := seen[k.Value]; dup {
				d.warnings = append(d.warnings, Warning{File: f, Line: k.Line, Key: k.Value,
					Message: fmt.Sprintf("duplicate key %s (first on line %d); the last value wins", k.Value, prev)})
			}
			seen[k.Value] = k.Line
			if _, ok := merged[k.Value]; !ok {
				order = append(order, k.Value)
			}
			merged[k.Value] = entry{k, root.Content[i+1], f}
		}
	}

	c := defaults()
	c.Files = files
	c.ConfigDir = absDir(files[len(files)-1])
	p := &present{keys: map[string]*yaml.Node{}, files: map[string]string{}}
	hs := d.allKeys(c, p)
	for _, name := range order {
		e := merged[name]
		d.file, d.dir = e.file, absDir(e.file)
		if !isNull(e.v) {
			p.keys[name], p.files[name] = e.v, e.file
		}
		d.dispatch("", e.k, e.v, hs, synapseOnlyKeys)
	}
	d.finish(c, p)
	if len(d.errs) > 0 {
		return nil, d.warnings, errors.Join(d.errs...)
	}
	return c, d.warnings, nil
}

// allKeys are the handlers of every top-level key.
func (d *decoder) allKeys(c *Config, p *present) handlers {
	hs := d.topLevel(c, p)
	maps.Copy(hs, d.mediaKeys(c))
	maps.Copy(hs, d.voipKeys(c))
	maps.Copy(hs, d.emailKeys(c))
	maps.Copy(hs, d.serverNoticesKeys(c))
	maps.Copy(hs, d.experimentalKeys(c))
	return hs
}

func absDir(file string) string {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return filepath.Dir(file)
	}
	return dir
}

// expand turns the arguments into the list of files to read.
func (d *decoder) expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			return nil, fmt.Errorf("reading configuration directory: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			full := filepath.Join(p, name)
			if strings.HasPrefix(name, ".") {
				continue
			}
			if fi, err := os.Stat(full); err != nil || fi.IsDir() {
				continue
			}
			switch {
			case strings.HasSuffix(name, ".yaml"):
				files = append(files, full)
			case strings.HasSuffix(name, ".yml"):
				d.warnings = append(d.warnings, Warning{File: full, Message: "skipped: only files ending in .yaml are read from a configuration directory"})
			}
		}
	}
	return files, nil
}

// readYAML parses one file and returns its top-level mapping, or nil for an
// empty file.
func readYAML(file string) (*yaml.Node, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: not valid YAML: %v", file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: holds more than one YAML document; split it into several files or remove the extra \"---\"", file)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{File: file, Line: root.Line, Key: "(top level)", Msg: "a configuration file must be a mapping of keys to values"}
	}
	return root, nil
}

// finish applies defaults that depend on other keys and checks rules that
// span several keys.
func (d *decoder) finish(c *Config, p *present) {
	at := func(key string) (string, *yaml.Node) {
		d.file, d.dir = p.files[key], c.ConfigDir
		return key, p.keys[key]
	}
	d.file, d.dir = "", c.ConfigDir

	if c.ServerName == "" {
		if _, ok := p.keys["server_name"]; !ok {
			d.fail("server_name", nil, "missing; set it to the domain in your users' IDs, e.g. server_name: \"example.org\"")
		}
		return // the remaining defaults need it
	}

	// public_baseurl defaults to https://<server_name>/ (Synapse's rule).
	if c.PublicBaseURL == "" {
		c.PublicBaseURL = "https://" + c.ServerName + "/"
	} else {
		key, n := at("public_baseurl")
		u, err := url.Parse(c.PublicBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			d.fail(key, n, "%q is not a base URL; write the URL clients reach, e.g. \"https://matrix.example.org/\"", c.PublicBaseURL)
		} else if !strings.HasSuffix(c.PublicBaseURL, "/") {
			c.PublicBaseURL += "/"
		}
	}

	d.file, d.dir = "", c.ConfigDir
	if c.SigningKeyPath == "" {
		c.SigningKeyPath = d.resolvePath(c.ServerName + ".signing.key")
	}
	if c.MediaStorePath == "" {
		c.MediaStorePath = d.resolvePath("media_store")
	}
	if _, ok := p.keys["database"]; !ok {
		c.Database = Database{Name: SQLite, Args: DatabaseArgs{Database: d.resolvePath("homeserver.db"), CPMin: 5, CPMax: 10}}
	}

	if p.useLegacyPresence != nil {
		if _, ok := p.keys["presence"]; !ok {
			c.Presence.Enabled = *p.useLegacyPresence
		}
	}

	// IP blacklists: Synapse's defaults when unset, plus the unspecified
	// addresses always.
	if _, ok := p.keys["ip_range_blacklist"]; !ok {
		c.IPRangeBlacklist = mustPrefixes(defaultIPRangeBlacklist)
	}
	c.IPRangeBlacklist = append(c.IPRangeBlacklist, mustPrefixes(alwaysBlacklisted)...)
	if _, ok := p.keys["federation_ip_range_blacklist"]; ok {
		key, n := at("federation_ip_range_blacklist")
		d.warn(key, n, "%s is deprecated in Synapse; list the ranges in ip_range_blacklist instead", key)
		c.FederationIPRangeBlacklist = append(c.FederationIPRangeBlacklist, mustPrefixes(alwaysBlacklisted)...)
	} else {
		c.FederationIPRangeBlacklist = c.IPRangeBlacklist
	}

	d.mediaDefaults(c, p, at)
	d.voipDefaults(c, at)
	d.emailDefaults(c, at)

	if c.RegistrationSharedSecret != "" && c.RegistrationSharedSecretPath != "" {
		key, n := at("registration_shared_secret_path")
		d.fail(key, n, "cannot be used together with registration_shared_secret; keep only one of them")
	}
	// Synapse refuses open registration without any verification step
	// because it invites spam; Myelin has no captcha step, so a
	// registration token or a validated email address (registrations_require_3pid)
	// is the verification.
	if c.EnableRegistration && !c.EnableRegistrationWithoutVerification && !c.RegistrationRequiresToken && len(c.RegistrationsRequire3PID) == 0 {
		key, n := at("enable_registration")
		d.fail(key, n, "open registration without verification invites spam accounts; set registration_requires_token: true, or configure email and set registrations_require_3pid: [email], or set enable_registration_without_verification: true if you accept the risk")
	}

	for i, l := range c.Listeners {
		if l.TLS && (c.TLSCertificatePath == "" || c.TLSPrivateKeyPath == "") {
			key, n := at("listeners")
			d.fail(fmt.Sprintf("%s[%d].tls", key, i), n, "is true but tls_certificate_path and tls_private_key_path are not both set; set them or use tls: false behind a TLS-terminating proxy")
		}
		if l.Type == "metrics" && !c.EnableMetrics {
			key, n := at("listeners")
			d.warn(fmt.Sprintf("%s[%d]", key, i), n, "%s[%d] is a metrics listener but enable_metrics is false, so it will serve no metrics; set enable_metrics: true", key, i)
		}
	}

	if !c.SuppressKeyServerWarning {
		for _, s := range c.TrustedKeyServers {
			if s.ServerName == "matrix.org" {
				key, n := at("trusted_key_servers")
				d.warn(key, n, "%s: matrix.org is trusted to vouch for other servers' keys; this is the usual default, set suppress_key_server_warning: true to acknowledge it", key)
				break
			}
		}
	}
	if c.LogConfig != "" {
		key, n := at("log_config")
		d.warn(key, n, "%s: Myelin does not read Python logging configs; set myelin.log_level and myelin.log_format instead", key)
	}
}

func mustPrefixes(ss []string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// synapseOnlyKeys are top-level Synapse options Myelin does not implement:
// they get an "ignored" warning instead of "unknown key".
var synapseOnlyKeys = []string{
	"web_client_location", "soft_file_limit", "gc_thresholds", "gc_min_interval",
	"filter_timeline_limit", "block_non_admin_invites", "enable_search",
	"redaction_retention_period", "user_ips_max_age", "templates", "retention",
	"hs_disabled", "hs_disabled_message", "limit_usage_by_mau",
	"max_mau_value", "mau_trial_days", "mau_stats_only", "server_context",
	"dummy_events_threshold", "delete_stale_devices_after",
	"oidc_providers", "saml2_config", "cas_config", "sso", "jwt_config",
	"ui_auth", "stats", "room_list_publication_rules",
	"alias_creation_rules", "push", "encryption_enabled_by_default_for_room_type",
	"auto_join_rooms", "autocreate_auto_join_rooms",
	"allowed_local_3pids", "enable_3pid_lookup", "enable_set_displayname",
	"enable_set_avatar_url", "enable_media_repo", "media_storage_providers",
	"oembed", "recaptcha_public_key", "recaptcha_private_key",
	"enable_registration_captcha", "metrics_flags", "report_stats_endpoint",
	"room_prejoin_state", "track_appservice_user_ips",
	"worker_app", "worker_name", "instance_map", "stream_writers",
	"run_background_tasks_on", "redis", "rc_presence",
	"forgotten_room_retention_period",
	"modules", "password_providers", "opentracing", "databases",
	"event_cache_size", "user_consent", "enable_room_list_search",
	"federation_client_minimum_tls_version", "federation_certificate_verification_whitelist",
	"allow_profile_lookup_over_federation", "allow_device_name_lookup_over_federation",
	"account_validity", "auto_accept_invites", "default_identity_server",
	"login_via_existing_session", "allow_per_room_profiles", "max_avatar_size",
	"allowed_avatar_mimetypes", "limit_profile_requests_to_users_who_share_rooms",
	"include_profile_data_on_invite", "require_membership_for_aliases",
	"mau_limit_alerting", "mau_limits_reserved_threepids", "manhole_settings",
	"federation_rr_transactions_per_room_per_second", "federation",
	"send_federation", "federation_sender_instances", "media_instance_running_background_jobs",
	"update_user_directory_from_worker", "notify_appservices_from_worker",
	"media_upload_limits",
	"prevent_media_downloads_from", "outbound_federation_restricted_to",
	"next_link_domain_whitelist",
	"account_threepid_delegates", "enable_registration_token_3pid_bypass",
	"max_event_delay_duration", "matrix_authentication_service",
	"no_tls", "tls_fingerprints",
	"spam_checker", "user_types", "auto_join_rooms_for_guests",
	"auto_join_mxid_localpart", "auto_join_room_preset", "autocreate_auto_join_room_preset",
}
