package capture

import (
	"net/url"
	"strings"
)

// referrerPage is the referring page without its query string, fragment or
// credentials: where a visitor came from, not what they searched for or
// which of their ids the referring site put in its URLs. A referrer that
// does not parse keeps only what precedes its first '?' or '#'.
func referrerPage(ref string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		cut, _, _ := strings.Cut(ref, "?")
		cut, _, _ = strings.Cut(cut, "#")
		return cut
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String()
}
