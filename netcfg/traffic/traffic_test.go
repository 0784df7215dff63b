package traffic

import (
	"io"
	"net"
	"testing"
)

func TestMeterCountsByClass(t *testing.T) {
	var m Meter
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ml := m.Listener(l, Management)
	defer ml.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ml.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		if _, err := io.ReadFull(c, buf); err != nil {
			done <- err
			return
		}
		_, err = c.Write(make([]byte, 40))
		done <- err
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := m.Conn(raw, Replication) // the client side, another class
	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()
	s := m.Snapshot()
	if got := s[Management]; got != (Counters{RxBytes: 100, TxBytes: 40, Conns: 1}) {
		t.Errorf("management (server) = %+v", got)
	}
	if got := s[Replication]; got != (Counters{RxBytes: 40, TxBytes: 100, Conns: 1}) {
		t.Errorf("replication (client) = %+v", got)
	}
	if got := m.Classes(); len(got) != 2 || got[0] != Management || got[1] != Replication {
		t.Errorf("classes = %v", got)
	}
	if _, ok := s[Ingest]; ok {
		t.Error("a class nobody used has counters")
	}
}
