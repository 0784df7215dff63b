package enrol

import (
	"slices"
	"time"
)

// Client is what the CA knows of one client name: for keep ctl clients.
type Client struct {
	Name string `json:"name"`
	// Certificates issued to the name, and how many of them are revoked.
	Certificates int `json:"certificates"`
	Revoked      int `json:"revoked"`
	// NotAfter is the latest expiry of its unrevoked certificates (zero:
	// none).
	NotAfter time.Time `json:"not_after,omitzero"`
	// PendingTokens are unused, unexpired enrolment tokens for the name.
	PendingTokens int `json:"pending_tokens"`
}

// Active reports whether the client holds a certificate that is neither
// revoked nor expired at now.
func (c Client) Active(now time.Time) bool {
	return c.Certificates > c.Revoked && now.Before(c.NotAfter)
}

// Clients lists every client name with an issued certificate or a pending
// token, sorted by name.
func (ca *CA) Clients() []Client {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := ca.opts.Now()
	by := map[string]*Client{}
	get := func(name string) *Client {
		c := by[name]
		if c == nil {
			c = &Client{Name: name}
			by[name] = c
		}
		return c
	}
	revoked := map[string]bool{}
	for _, r := range ca.state.Revoked {
		revoked[r.Serial] = true
	}
	for _, is := range ca.state.Issued {
		c := get(is.Client)
		c.Certificates++
		if revoked[is.Serial] {
			c.Revoked++
		} else if is.NotAfter.After(c.NotAfter) {
			c.NotAfter = is.NotAfter
		}
	}
	for _, t := range ca.state.Tokens {
		if t.Used.IsZero() && now.Before(t.Expires) {
			get(t.Client).PendingTokens++
		}
	}
	out := make([]Client, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Client) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
