package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// prompter asks questions on stderr. On a terminal, secrets are read
// without echo; otherwise answers are read line by line from stdin, so
// scripts can pipe them in.
type prompter struct {
	in       *bufio.Reader
	out      io.Writer
	terminal int // file descriptor of a terminal stdin, or -1
}

func newPrompter(stdin io.Reader, out io.Writer) *prompter {
	p := &prompter{in: bufio.NewReader(stdin), out: out, terminal: -1}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = int(f.Fd())
	}
	return p
}

func (p *prompter) isTerminal() bool { return p.terminal >= 0 }

// line asks a question and returns the answer without its line ending.
func (p *prompter) line(question string) (string, error) {
	fmt.Fprint(p.out, question)
	s, err := p.in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no answer (end of input)")
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// secret asks for a value without echoing it on a terminal.
func (p *prompter) secret(question string) (string, error) {
	if !p.isTerminal() {
		return p.line(question)
	}
	fmt.Fprint(p.out, question)
	b, err := term.ReadPassword(p.terminal)
	fmt.Fprintln(p.out)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// newPassword asks for a password, twice on a terminal so a typo is not
// locked in. Piped input gives it once.
func (p *prompter) newPassword() (string, error) {
	pw, err := p.secret("Password: ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("the password must not be empty")
	}
	if p.isTerminal() {
		again, err := p.secret("Confirm password: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

// yesNo asks a yes/no question with a default.
func (p *prompter) yesNo(question string, def bool) (bool, error) {
	hint := "[no]"
	if def {
		hint = "[yes]"
	}
	for {
		s, err := p.line(question + " " + hint + ": ")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "":
			return def, nil
		case "y", "yes", "true":
			return true, nil
		case "n", "no", "false":
			return false, nil
		}
		fmt.Fprintln(p.out, "Please answer yes or no.")
	}
}
