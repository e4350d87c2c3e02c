package appservice

import (
	"errors"
	"fmt"
	"os"
	"regexp/syntax"
)

// Set is every appservice registered on the server. It is immutable; a nil
// *Set is a server with no appservices, so callers need no checks.
type Set struct {
	all       []*Registration
	byID      map[string]*Registration
	byASToken map[string]*Registration
}

// Load reads and checks the registration files listed in
// app_service_config_files (paths already resolved by internal/config).
// Every problem found is returned, joined, each naming its file.
func Load(paths []string, serverName string) (*Set, error) {
	var regs []*Registration
	var errs []error
	for _, p := range paths {
		data, err := readFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w %s: %v", ErrInvalid, p, err))
			continue
		}
		r, err := Parse(data, p, serverName)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		regs = append(regs, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(regs...)
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return os.ReadFile(p)
}

// NewSet checks registrations against each other and returns their set.
// Refused, because one appservice could then act for or be confused with
// another: the same id or as_token twice (the spec: "The homeserver MUST
// enforce this"), any token used twice across the set, two appservices with
// the same sender, a sender inside another appservice's exclusive user
// namespace, and two exclusive namespaces of one kind that overlap where
// that can be decided: the same expression, or a literal ID one of them
// names that the other matches.
func NewSet(regs ...*Registration) (*Set, error) {
	s := &Set{byID: map[string]*Registration{}, byASToken: map[string]*Registration{}}
	var errs []error
	tokens := map[string]*Registration{}
	senders := map[string]*Registration{}
	for _, r := range regs {
		if o := s.byID[r.ID]; o != nil {
			errs = append(errs, fmt.Errorf("%w: %s and %s both have id %q; ids must be unique", ErrInvalid, o.File, r.File, r.ID))
			continue
		}
		for _, tok := range []string{r.ASToken, r.HSToken} {
			if o := tokens[tok]; o != nil {
				errs = append(errs, fmt.Errorf("%w: %s and %s share a token (as_token or hs_token); every token must be unique", ErrInvalid, o.File, r.File))
			}
			tokens[tok] = r
		}
		if o := senders[r.sender()]; o != nil {
			errs = append(errs, fmt.Errorf("%w: %s and %s have the same sender_localpart %q", ErrInvalid, o.File, r.File, r.SenderLocalpart))
		}
		senders[r.sender()] = r
		s.byID[r.ID] = r
		s.byASToken[r.ASToken] = r
		s.all = append(s.all, r)
	}
	for i, a := range s.all {
		for _, b := range s.all[i+1:] {
			errs = append(errs, overlaps(a, b)...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func overlaps(a, b *Registration) []error {
	var errs []error
	for _, pair := range [][2]*Registration{{a, b}, {b, a}} {
		if pair[1].IsExclusiveUser(pair[0].sender()) {
			errs = append(errs, fmt.Errorf("%w: the sender %s of %s is in an exclusive user namespace of %s", ErrInvalid, pair[0].sender(), pair[0].File, pair[1].File))
		}
	}
	for _, kind := range []struct {
		name string
		a, b []Namespace
	}{{"users", a.Namespaces.Users, b.Namespaces.Users}, {"aliases", a.Namespaces.Aliases, b.Namespaces.Aliases}, {"rooms", a.Namespaces.Rooms, b.Namespaces.Rooms}} {
		for _, na := range kind.a {
			for _, nb := range kind.b {
				if na.Exclusive && nb.Exclusive && exclusiveOverlap(na, nb) {
					errs = append(errs, fmt.Errorf("%w: exclusive namespaces.%s %q of %s and %q of %s overlap; an ID can have only one exclusive owner",
						ErrInvalid, kind.name, na.Regex, a.File, nb.Regex, b.File))
				}
			}
		}
	}
	return errs
}

// exclusiveOverlap is the part of "do these two expressions match a common
// string" that can be decided cheaply: identical expressions, or one that
// matches a single literal string the other matches.
func exclusiveOverlap(a, b Namespace) bool {
	if a.Regex == b.Regex {
		return true
	}
	if lit, ok := literal(a.Regex); ok && b.Matches(lit) {
		return true
	}
	if lit, ok := literal(b.Regex); ok && a.Matches(lit) {
		return true
	}
	return false
}

// literal returns the string a regular expression matches when it is a
// plain literal (anchors aside).
func literal(rx string) (string, bool) {
	re, err := syntax.Parse(rx, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op == syntax.OpConcat {
		var subs []*syntax.Regexp
		for _, s := range re.Sub {
			if s.Op != syntax.OpBeginText && s.Op != syntax.OpEndText && s.Op != syntax.OpBeginLine && s.Op != syntax.OpEndLine {
				subs = append(subs, s)
			}
		}
		if len(subs) == 1 {
			re = subs[0]
		}
	}
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune), true
	}
	return "", false
}

// All returns every registration, in the order of app_service_config_files.
func (s *Set) All() []*Registration {
	if s == nil {
		return nil
	}
	return s.all
}

// Len is the number of appservices.
func (s *Set) Len() int { return len(s.All()) }

// ByID returns the appservice with that id, or nil.
func (s *Set) ByID(id string) *Registration {
	if s == nil {
		return nil
	}
	return s.byID[id]
}

// ByASToken returns the appservice whose as_token is token, or nil.
func (s *Set) ByASToken(token string) *Registration {
	if s == nil || token == "" {
		return nil
	}
	return s.byASToken[token]
}

// ExclusiveOwnerOfUser returns the appservice that holds userID exclusively
// (its sender or in an exclusive user namespace), or nil.
func (s *Set) ExclusiveOwnerOfUser(userID string) *Registration {
	return s.find(func(r *Registration) bool { return r.IsExclusiveUser(userID) })
}

// ExclusiveOwnerOfAlias returns the appservice that holds alias exclusively,
// or nil.
func (s *Set) ExclusiveOwnerOfAlias(alias string) *Registration {
	return s.find(func(r *Registration) bool { return r.IsExclusiveAlias(alias) })
}

// ExclusiveOwnerOfRoom returns the appservice that holds roomID exclusively,
// or nil.
func (s *Set) ExclusiveOwnerOfRoom(roomID string) *Registration {
	return s.find(func(r *Registration) bool { return r.IsExclusiveRoom(roomID) })
}

// InterestedInUser returns the appservices interested in userID.
func (s *Set) InterestedInUser(userID string) []*Registration {
	return s.filter(func(r *Registration) bool { return r.IsInterestedInUser(userID) })
}

// InterestedInAlias returns the appservices interested in alias.
func (s *Set) InterestedInAlias(alias string) []*Registration {
	return s.filter(func(r *Registration) bool { return r.IsInterestedInAlias(alias) })
}

// ServingProtocol returns the appservices that declared protocol.
func (s *Set) ServingProtocol(protocol string) []*Registration {
	return s.filter(func(r *Registration) bool { return r.ServesProtocol(protocol) })
}

func (s *Set) find(ok func(*Registration) bool) *Registration {
	for _, r := range s.All() {
		if ok(r) {
			return r
		}
	}
	return nil
}

func (s *Set) filter(ok func(*Registration) bool) []*Registration {
	var out []*Registration
	for _, r := range s.All() {
		if ok(r) {
			out = append(out, r)
		}
	}
	return out
}
