// Package appservice holds what the homeserver knows of its application
// services (Application Service API): their registrations, loaded from the
// files the operator lists in app_service_config_files and checked at
// start, the questions every part of the server asks of them (is this user,
// alias or room in a namespace, and whose?), and the client that makes
// requests to them.
//
// Pushing transactions to appservices is not here: it lives in
// internal/appservice/txnsender with its own store, built on this package.
package appservice

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/myelin-chat/myelin/internal/ids"
)

// Registration is one application service's registration file
// (application-service-api.md, Registration). It is immutable once loaded.
type Registration struct {
	// ID is unique among the server's appservices and never changes.
	ID string
	// URL is the appservice's base URL without a trailing "/", or "" when
	// the file sets url: null ("no traffic is required"): nothing is then
	// pushed to it, and queries and pings to it fail with ErrURLNotSet.
	URL string
	// ASToken is what the appservice presents to the homeserver; HSToken
	// what the homeserver presents to the appservice.
	ASToken, HSToken string
	// SenderLocalpart names the appservice's own user, whom it acts as
	// when it names no other.
	SenderLocalpart string
	Namespaces      Namespaces
	// RateLimited is the file's rate_limited, nil when absent. Absent means
	// true (Synapse's default); use IsRateLimited. The spec: "whether
	// requests from masqueraded users are rate-limited. The sender is
	// excluded."
	RateLimited *bool
	// Protocols are the third-party protocols the appservice serves.
	Protocols []string
	// ReceiveEphemeral asks for typing, receipts and presence in
	// transactions: receive_ephemeral (spec v1.13) or the MSC2409 names
	// clients still write, de.sorunome.msc2409.push_ephemeral and
	// push_ephemeral.
	ReceiveEphemeral bool
	// MSC3202 (org.matrix.msc3202: true) asks for device list changes,
	// device one-time key counts and to-device messages in transactions,
	// and lets the appservice act as a device of its users with device_id
	// (which spec v1.17 grants every appservice anyway).
	MSC3202 bool
	// IPRangeWhitelist is Synapse's optional ip_range_whitelist of the
	// registration: when set, the as_token is accepted only from clients
	// in these ranges.
	IPRangeWhitelist []netip.Prefix
	// File is the registration file it was read from, for messages.
	File string

	server ids.ServerName
}

// Namespaces are the user IDs, room aliases and room IDs an appservice is
// interested in.
type Namespaces struct {
	Users, Aliases, Rooms []Namespace
}

// Namespace is one regular expression of a namespace list. It matches as
// Synapse matches (Python's re.match): anchored at the start of the ID,
// not at its end, so "@_irc_.*" and "@_irc_" both cover "@_irc_bob:hs".
// Expressions are Go's RE2 syntax, which takes the ordinary Python ones
// bridges write; look-arounds and back-references are refused at load.
type Namespace struct {
	Exclusive bool
	Regex     string
	re        *regexp.Regexp
}

// Matches reports whether s is in the namespace.
func (n Namespace) Matches(s string) bool { return n.re != nil && n.re.MatchString(s) }

func matchAny(ns []Namespace, s string, exclusiveOnly bool) bool {
	for _, n := range ns {
		if (!exclusiveOnly || n.Exclusive) && n.Matches(s) {
			return true
		}
	}
	return false
}

// SenderUserID is the appservice's own user, @sender_localpart:serverName.
func (r *Registration) SenderUserID(serverName string) string {
	return "@" + r.SenderLocalpart + ":" + serverName
}

func (r *Registration) sender() string { return r.SenderUserID(string(r.server)) }

// IsRateLimited reports whether the appservice's masqueraded users are
// rate-limited (rate_limited, true when absent).
func (r *Registration) IsRateLimited() bool { return r.RateLimited == nil || *r.RateLimited }

// IsInterestedInUser reports whether userID is the appservice's sender or a
// local user in one of its user namespaces. Users of other servers are never
// in a user namespace (application-service-api.md, Registration: "can only
// register interest in local users").
func (r *Registration) IsInterestedInUser(userID string) bool {
	return userID == r.sender() || (r.isLocal(userID) && matchAny(r.Namespaces.Users, userID, false))
}

// IsInterestedInRoomID reports whether roomID is in one of its room
// namespaces.
func (r *Registration) IsInterestedInRoomID(roomID string) bool {
	return matchAny(r.Namespaces.Rooms, roomID, false)
}

// IsInterestedInAlias reports whether alias is in one of its alias
// namespaces.
func (r *Registration) IsInterestedInAlias(alias string) bool {
	return matchAny(r.Namespaces.Aliases, alias, false)
}

// IsExclusiveUser reports whether userID is the sender or in an exclusive
// user namespace: only this appservice may create or log in as it. The
// sender counts as exclusive, as in Synapse.
func (r *Registration) IsExclusiveUser(userID string) bool {
	return userID == r.sender() || (r.isLocal(userID) && matchAny(r.Namespaces.Users, userID, true))
}

// IsExclusiveAlias reports whether alias is in an exclusive alias namespace.
func (r *Registration) IsExclusiveAlias(alias string) bool {
	return matchAny(r.Namespaces.Aliases, alias, true)
}

// IsExclusiveRoom reports whether roomID is in an exclusive room namespace.
func (r *Registration) IsExclusiveRoom(roomID string) bool {
	return matchAny(r.Namespaces.Rooms, roomID, true)
}

// ServesProtocol reports whether protocol is one of its protocols.
func (r *Registration) ServesProtocol(protocol string) bool {
	for _, p := range r.Protocols {
		if p == protocol {
			return true
		}
	}
	return false
}

// AllowsClient reports whether a request with the as_token may come from
// addr: always, unless the registration sets ip_range_whitelist.
func (r *Registration) AllowsClient(addr netip.Addr) bool {
	if len(r.IPRangeWhitelist) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range r.IPRangeWhitelist {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (r *Registration) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+string(r.server))
}

// Limits on a registration file. Real ones are a few hundred bytes.
const (
	maxFileSize   = 1 << 20
	maxNamespaces = 1000
	maxRegexLen   = 4096
	maxProtocols  = 100
)

// ErrInvalid is wrapped by every error about a registration file.
var ErrInvalid = errors.New("invalid appservice registration")

// Parse reads one registration file's YAML (JSON is YAML too) for a server
// named serverName. file names it in errors. The checks are Synapse's:
// id, as_token, hs_token and sender_localpart must be strings, url a
// string or an explicit null (a missing url is refused, so that a typo
// cannot silently turn pushing off), every namespace entry a regex with a
// boolean exclusive; and the spec's: an appservice's own tokens differ.
func Parse(data []byte, file, serverName string) (*Registration, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrInvalid, file, fmt.Sprintf(format, args...))
	}
	if len(data) > maxFileSize {
		return nil, fail("larger than %d bytes", maxFileSize)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fail("not valid YAML: %v", err)
	}
	if raw == nil {
		return nil, fail("empty; a registration needs id, url, as_token, hs_token, sender_localpart and namespaces")
	}
	r := &Registration{File: file, server: ids.ServerName(serverName)}
	for key, dst := range map[string]*string{"id": &r.ID, "as_token": &r.ASToken, "hs_token": &r.HSToken, "sender_localpart": &r.SenderLocalpart} {
		s, ok := raw[key].(string)
		if !ok || s == "" {
			return nil, fail("%s is missing or not a non-empty string", key)
		}
		*dst = s
	}
	switch u := raw["url"].(type) {
	case nil:
		if _, present := raw["url"]; !present {
			return nil, fail("url is missing; set it to the appservice's base URL, or to null if it needs no traffic")
		}
	case string:
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil || pu.RawQuery != "" || pu.Fragment != "" {
			return nil, fail("url %q is not an http(s) base URL like \"http://localhost:9000\"", u)
		}
		r.URL = strings.TrimRight(u, "/")
	default:
		return nil, fail("url must be a string or null")
	}
	if r.ASToken == r.HSToken {
		return nil, fail("as_token and hs_token are the same; they authenticate opposite directions and must differ")
	}
	if uid, err := ids.ParseUserID(r.sender()); err != nil || uid.Localpart == "" {
		return nil, fail("sender_localpart %q does not make a valid user ID", r.SenderLocalpart)
	}
	var err error
	if r.Namespaces, err = parseNamespaces(raw["namespaces"]); err != nil {
		return nil, fail("%v", err)
	}
	if v, ok := raw["rate_limited"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, fail("rate_limited must be true or false")
		}
		r.RateLimited = &b
	}
	if v, ok := raw["protocols"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList || len(list) > maxProtocols {
			return nil, fail("protocols must be a list of at most %d strings", maxProtocols)
		}
		for _, p := range list {
			s, ok := p.(string)
			if !ok || s == "" {
				return nil, fail("protocols must be a list of non-empty strings")
			}
			r.Protocols = append(r.Protocols, s)
		}
	}
	for _, key := range []string{"receive_ephemeral", "de.sorunome.msc2409.push_ephemeral", "push_ephemeral", "org.matrix.msc3202"} {
		v, ok := raw[key]
		if !ok || v == nil {
			continue
		}
		b, isBool := v.(bool)
		if !isBool {
			return nil, fail("%s must be true or false", key)
		}
		if key == "org.matrix.msc3202" {
			r.MSC3202 = b
		} else {
			r.ReceiveEphemeral = r.ReceiveEphemeral || b
		}
	}
	if v, ok := raw["ip_range_whitelist"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			return nil, fail("ip_range_whitelist must be a list of IP ranges")
		}
		for _, item := range list {
			s, _ := item.(string)
			p, err := parsePrefix(s)
			if err != nil {
				return nil, fail("ip_range_whitelist: %q is not an IP range", s)
			}
			r.IPRangeWhitelist = append(r.IPRangeWhitelist, p)
		}
	}
	return r, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// parseNamespaces reads the namespaces object. A missing one is empty, as
// Synapse allows, though the spec lists it as required.
func parseNamespaces(v any) (Namespaces, error) {
	var ns Namespaces
	if v == nil {
		return ns, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ns, errors.New("namespaces must be an object with users, aliases and rooms lists")
	}
	for key, dst := range map[string]*[]Namespace{"users": &ns.Users, "aliases": &ns.Aliases, "rooms": &ns.Rooms} {
		list, err := parseNamespaceList("namespaces."+key, m[key])
		if err != nil {
			return ns, err
		}
		*dst = list
	}
	return ns, nil
}

func parseNamespaceList(key string, v any) ([]Namespace, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list of {exclusive, regex} entries", key)
	}
	if len(items) > maxNamespaces {
		return nil, fmt.Errorf("%s has more than %d entries", key, maxNamespaces)
	}
	out := make([]Namespace, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d] must be an object with exclusive and regex", key, i)
		}
		rx, ok := m["regex"].(string)
		if !ok || rx == "" || len(rx) > maxRegexLen {
			return nil, fmt.Errorf("%s[%d].regex must be a non-empty string of at most %d bytes", key, i, maxRegexLen)
		}
		excl, ok := m["exclusive"].(bool)
		if !ok {
			return nil, fmt.Errorf("%s[%d].exclusive must be true or false", key, i)
		}
		re, err := regexp.Compile(`^(?:` + rx + `)`)
		if err != nil {
			return nil, fmt.Errorf("%s[%d].regex %q is not a regular expression Myelin can use (RE2 syntax: no look-arounds or back-references): %v", key, i, rx, err)
		}
		out = append(out, Namespace{Exclusive: excl, Regex: rx, re: re})
	}
	return out, nil
}
