// Package instrument is the one small interface through which packages
// record measurements, so that none of them imports a metrics library.
package instrument

import "time"

// Observer records one measurement, e.g. a duration in seconds; a
// prometheus.Observer (histogram or summary) is one.
type Observer interface {
	Observe(float64)
}

// Since records the seconds elapsed since start on o; a nil o records
// nothing.
func Since(o Observer, start time.Time) {
	if o != nil {
		o.Observe(time.Since(start).Seconds())
	}
}
