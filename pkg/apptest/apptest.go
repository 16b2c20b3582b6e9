// Package apptest runs a freight app inside a test: listening on a real
// port, run until the test ends (then drained as SIGTERM would), with its
// metrics at hand. It does not import the app package, so that the app's
// own tests can use it too.
package apptest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// App is what a test runs: *app.App.
type App interface {
	Listen() (string, error)
	Run(ctx context.Context) error
}

// Instance is an App run by a test.
type Instance struct {
	// Addr is where /metrics, /healthz and /readyz answer.
	Addr string
	reg  prometheus.Gatherer
	wait time.Duration

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start listens and runs a until the test ends; reg is the registry the app
// was given. At cleanup the app is stopped (it must stop within wait); a
// test that cares about Run's error calls Stop itself.
func Start(t testing.TB, a App, reg prometheus.Gatherer, wait time.Duration) *Instance {
	t.Helper()
	addr, err := a.Listen()
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{Addr: addr, reg: reg, wait: wait, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- a.Run(ctx) }()
	t.Cleanup(func() { _ = in.Stop() })
	return in
}

// Stop drains the app as SIGTERM would and returns Run's error; later calls
// return the same.
func (in *Instance) Stop() error {
	in.once.Do(func() {
		in.cancel()
		select {
		case in.err = <-in.done:
		case <-time.After(in.wait):
			in.err = fmt.Errorf("the app did not stop within %s", in.wait)
		}
	})
	return in.err
}

// Sum adds up a counter or gauge over the series whose labels have the
// values given (name, value pairs); no pairs sum every series.
func (in *Instance) Sum(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, m := range in.metrics(t, name) {
		if matches(m, labels) {
			sum += value(m)
		}
	}
	return sum
}

// Series returns a metric's values by the values of the labels named,
// joined with "/" (e.g. "web-events/0" for topic and partition).
func (in *Instance) Series(t testing.TB, name string, labels ...string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range in.metrics(t, name) {
		var key []string
		for _, l := range labels {
			key = append(key, labelValue(m, l))
		}
		out[strings.Join(key, "/")] += value(m)
	}
	return out
}

func (in *Instance) metrics(t testing.TB, name string) []*dto.Metric {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric
		}
	}
	return nil
}

func matches(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if labelValue(m, pairs[i]) != pairs[i+1] {
			return false
		}
	}
	return true
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// LogWriter sends an app's log lines to t.Log, for a slog handler.
type LogWriter struct{ T testing.TB }

func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
