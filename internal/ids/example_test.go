package ids_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/myelin-chat/myelin/internal/ids"
)

func ExampleParseServerName() {
	host, port, _ := ids.ParseServerName("[2001:db8::1]:8448")
	fmt.Println(host, port, ids.IsIPLiteral(host))
	fmt.Println(net.JoinHostPort(host, strconv.Itoa(port)))
	// Output:
	// 2001:db8::1 8448 true
	// [2001:db8::1]:8448
}

func ExampleNewUserID() {
	_, err := ids.NewUserID("Alice", "example.org")
	fmt.Println(errors.Is(err, ids.ErrInvalidLocalpart)) // → M_INVALID_USERNAME

	local, _ := ids.NormalizeUsername("Alice")
	u, _ := ids.NewUserID(local, "example.org")
	fmt.Println(u)
	// Output:
	// true
	// @alice:example.org
}
