package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// series is one described metric: its Desc and how its value is read.
type series struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func newSeries(kind prometheus.ValueType, name, help string, labels ...string) series {
	return series{desc: prometheus.NewDesc(namespace+"_"+name, help, labels, nil), kind: kind}
}

func counter(name, help string, labels ...string) series {
	return newSeries(prometheus.CounterValue, name, help, labels...)
}

func gauge(name, help string, labels ...string) series {
	return newSeries(prometheus.GaugeValue, name, help, labels...)
}

// emit sends one sample of s.
func (s series) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(s.desc, s.kind, v, labels...)
}

// snapshotCollector describes a fixed set of series and, at each scrape,
// reads one snapshot of its source and emits them: the source's counters
// cost nothing between scrapes.
type snapshotCollector struct {
	series  []series
	collect func(ch chan<- prometheus.Metric)
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.series {
		ch <- s.desc
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
