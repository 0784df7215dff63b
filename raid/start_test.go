package raid

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// recKernel records the calls Start makes and fails one on request.
type recKernel struct {
	calls  []string
	failOn string
}

func (r *recKernel) do(c string) error {
	r.calls = append(r.calls, c)
	if r.failOn != "" && strings.HasPrefix(c, r.failOn) {
		return errors.New("EINVAL")
	}
	return nil
}
func (r *recKernel) NewArray(a string) error { return r.do("new_array " + a) }
func (r *recKernel) SetMetadataVersion(a, v string) error {
	return r.do("metadata_version " + v)
}
func (r *recKernel) AddDevice(a string, d DevNum) error { return r.do("new_dev " + d.String()) }
func (r *recKernel) SetArrayState(a, s string) error    { return r.do("array_state " + s) }

func TestStart(t *testing.T) {
	m := func(name string) *Member { return &Member{Device: name} }
	d := Decision{Action: StartDegraded, Slots: []*Member{m("a"), nil, m("c")}, Spares: []Member{*m("s")}}
	devOf := func(mb Member) (DevNum, error) {
		return DevNum{253, uint32(mb.Device[0])}, nil
	}
	k := &recKernel{}
	if err := Start(k, "md127", d, devOf); err != nil {
		t.Fatal(err)
	}
	want := []string{"new_array md127", "metadata_version 1.2", "new_dev 253:97", "new_dev 253:99", "new_dev 253:115", "array_state active"}
	if !reflect.DeepEqual(k.calls, want) {
		t.Errorf("calls = %v\nwant %v", k.calls, want)
	}

	// A member the kernel refuses: the half-built array is cleared.
	k = &recKernel{failOn: "new_dev 253:99"}
	err := Start(k, "md127", d, devOf)
	if err == nil || !strings.Contains(err.Error(), "add member c") {
		t.Errorf("refused member: %v", err)
	}
	if last := k.calls[len(k.calls)-1]; last != "array_state clear" {
		t.Errorf("after a failure the array must be cleared; calls %v", k.calls)
	}

	// Refused: nothing at all.
	k = &recKernel{}
	if err := Start(k, "md127", Decision{Action: Refuse}, devOf); !errors.Is(err, ErrTooFewMembers) || len(k.calls) != 0 {
		t.Errorf("refuse: %v, calls %v", err, k.calls)
	}
	// A member without a device number: nothing at all.
	k = &recKernel{}
	bad := func(Member) (DevNum, error) { return DevNum{}, fmt.Errorf("gone") }
	if err := Start(k, "md127", d, bad); err == nil || len(k.calls) != 0 {
		t.Errorf("no devnum: %v, calls %v", err, k.calls)
	}
}
