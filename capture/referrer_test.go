package capture

import "testing"

func TestTheReferrerIsKeptWithoutItsQueryFragmentOrCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"": "",
		"https://search.example/?q=weight+loss+drug": "https://search.example/",
		"https://blog.example/post?utm=x#comments":   "https://blog.example/post",
		"https://user:pass@forum.example/t/1?s=abc":  "https://forum.example/t/1",
		"https://affiliate.example/post":             "https://affiliate.example/post",
		"not a url %zz?secret=1#x":                   "not a url %zz",
	} {
		if got := referrerPage(in); got != want {
			t.Errorf("referrerPage(%q) = %q, want %q", in, got, want)
		}
	}
}
