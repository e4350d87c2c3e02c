package urlpreview

import (
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Bounds on what one page may put into a preview.
const (
	maxValueRunes = 1000 // any one value
	maxOGKeys     = 64   // og:* properties kept
	// maxDescriptionRunes is Synapse's bound on a description it derives
	// itself (og:description is also cut to it).
	maxDescriptionRunes = 500
)

// parseHTML reads a page and returns its Open Graph properties, with
// Synapse's fallbacks when the page has none: the <title> for og:title,
// the meta description for og:description, and the largest image that
// declares its size (else the first image) for og:image. Values are
// trimmed and bounded; og:image is left as written (possibly relative).
func parseHTML(r io.Reader) map[string]any {
	og := map[string]any{}
	var title, description, firstImg, bestImg string
	bestArea := 0
	inTitle := false
	z := html.NewTokenizer(r)
	z.SetMaxBuf(1 << 20) // a single token larger than this ends the parse
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return finish(og, title, description, firstImg, bestImg)
		case html.TextToken:
			if inTitle && title == "" {
				title = string(z.Text())
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); atom.Lookup(name) == atom.Title {
				inTitle = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Title {
				inTitle = tt == html.StartTagToken
				continue
			}
			if !hasAttr || (a != atom.Meta && a != atom.Img) {
				continue
			}
			attrs := map[string]string{}
			for {
				k, v, more := z.TagAttr()
				if _, seen := attrs[string(k)]; !seen {
					attrs[string(k)] = string(v)
				}
				if !more {
					break
				}
			}
			if a == atom.Img {
				src := strings.TrimSpace(attrs["src"])
				if src == "" || strings.HasPrefix(src, "data:") {
					continue
				}
				if firstImg == "" {
					firstImg = src
				}
				if area := atoi(attrs["width"]) * atoi(attrs["height"]); area > bestArea {
					bestArea, bestImg = area, src
				}
				continue
			}
			// <meta property="og:..."> (Open Graph), or name= as some
			// pages write it.
			prop := attrs["property"]
			if prop == "" {
				prop = attrs["name"]
			}
			prop = strings.ToLower(strings.TrimSpace(prop))
			content := strings.TrimSpace(attrs["content"])
			if content == "" {
				continue
			}
			switch {
			case strings.HasPrefix(prop, "og:"):
				if _, seen := og[prop]; !seen && len(og) < maxOGKeys {
					og[prop] = bound(content, maxValueRunes)
				}
			case prop == "description" && description == "":
				description = content
			}
		}
	}
}

func finish(og map[string]any, title, description, firstImg, bestImg string) map[string]any {
	if _, ok := og["og:title"]; !ok && strings.TrimSpace(title) != "" {
		og["og:title"] = bound(title, maxValueRunes)
	}
	if d, ok := og["og:description"].(string); ok {
		og["og:description"] = bound(d, maxDescriptionRunes)
	} else if strings.TrimSpace(description) != "" {
		og["og:description"] = bound(description, maxDescriptionRunes)
	}
	if _, ok := og["og:image"]; !ok {
		if bestImg == "" {
			bestImg = firstImg
		}
		if bestImg != "" {
			og["og:image"] = bound(bestImg, maxValueRunes)
		}
	}
	return og
}

// bound collapses white space and cuts s to n runes, marking a cut with
// an ellipsis; invalid UTF-8 becomes U+FFFD.
func bound(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func atoi(s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' || n > 1<<20 {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}
