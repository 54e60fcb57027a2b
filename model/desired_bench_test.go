package model_test

import (
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

// BenchmarkDesired resolves one node of a large cluster: 10,000 services
// with 10 real servers each on 3 nodes.
func BenchmarkDesired(b *testing.B) {
	c := modeltest.GenerateCluster(10000, 10, 3)
	b.ReportAllocs()
	for b.Loop() {
		st, err := model.Desired(c, "node-2")
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Services) != 10000 {
			b.Fatalf("%d services", len(st.Services))
		}
	}
}
