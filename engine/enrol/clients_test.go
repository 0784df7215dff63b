package enrol

import (
	"testing"
	"time"
)

func TestClients(t *testing.T) {
	ca, err := Open(Options{Dir: t.TempDir()})
	must(t, err)
	if cs := ca.Clients(); len(cs) != 0 {
		t.Fatalf("new CA lists %v", cs)
	}
	enrolOne := func(name string) {
		s, err := ca.NewToken(name, "a:1", 0)
		must(t, err)
		tok, err := ParseToken(s)
		must(t, err)
		_, _, err = ca.Enrol(tok.Secret[:], pubKey(t))
		must(t, err)
	}
	enrolOne("web1")
	enrolOne("db1")
	enrolOne("db1")
	_, err = ca.NewToken("mail", "a:1", time.Hour)
	must(t, err)
	if _, err := ca.RevokeClient("web1"); err != nil {
		t.Fatal(err)
	}
	cs := ca.Clients()
	now := time.Now()
	if len(cs) != 3 || cs[0].Name != "db1" || cs[1].Name != "mail" || cs[2].Name != "web1" {
		t.Fatalf("clients %+v", cs)
	}
	if c := cs[0]; c.Certificates != 2 || c.Revoked != 0 || !c.Active(now) || c.PendingTokens != 0 {
		t.Errorf("db1 %+v", c)
	}
	if c := cs[1]; c.Certificates != 0 || c.Active(now) || c.PendingTokens != 1 {
		t.Errorf("mail %+v", c)
	}
	if c := cs[2]; c.Certificates != 1 || c.Revoked != 1 || c.Active(now) || !c.NotAfter.IsZero() {
		t.Errorf("web1 %+v", c)
	}
}
