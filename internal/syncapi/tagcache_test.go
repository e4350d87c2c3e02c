package syncapi

import (
	"fmt"
	"testing"
)

// A cached value answers only the tag it was read at, and the cache never
// holds more users than its bound.
func TestTaggedCache_HitsOnlyItsTagAndStaysBounded(t *testing.T) {
	c := NewTaggedCache[int64, string](3)
	c.Put("@a:hs", 7, "at 7")
	if v, ok := c.Get("@a:hs", 7); !ok || v != "at 7" {
		t.Fatalf("same tag: %q %v", v, ok)
	}
	if _, ok := c.Get("@a:hs", 8); ok {
		t.Fatal("a value read at 7 answered for 8")
	}
	if _, ok := c.Get("@b:hs", 7); ok {
		t.Fatal("another user's value answered")
	}
	c.Put("@a:hs", 8, "at 8")
	if _, ok := c.Get("@a:hs", 7); ok {
		t.Fatal("the replaced value still answers")
	}
	for i := range 10 {
		c.Put(fmt.Sprint("@u", i, ":hs"), 1, "x")
	}
	if len(c.entries) > 3 {
		t.Fatalf("%d users held, bound 3", len(c.entries))
	}
}
