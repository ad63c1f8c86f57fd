package demo

import "testing"

// Every size from the minimum up gives every family at least what its
// registry family needs, and exactly the entries asked in total.
func TestAllocate(t *testing.T) {
	sizes := []int{MaxEntries, DefaultEntries}
	for n := MinEntries(); n < MinEntries()+200; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		total := 0
		for i, c := range allocate(n) {
			if c < families[i].least() {
				t.Errorf("entries %d: family %s gets %d, needs %d", n, families[i].name, c, families[i].least())
			}
			total += c
		}
		if total != n {
			t.Errorf("entries %d: families get %d in all", n, total)
		}
	}
}
