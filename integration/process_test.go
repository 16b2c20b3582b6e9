package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/freight-relay/freight/pkg/capi/capitest"
	"github.com/freight-relay/freight/pkg/config"
	"github.com/freight-relay/freight/pkg/kafkatest"
)

// These tests run the real binary as a separate process, so that it can be
// killed (SIGKILL: no drain, no commit) or stopped with SIGTERM.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func freightBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "freight-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "freight")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/freight").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a freight process.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer
	addr   string
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runProcess writes cfg to a file and starts `freight run -c FILE`.
func (e *env) runProcess(cfg config.Config, extraEnv []string, args ...string) *proc {
	e.t.Helper()
	cfg.HTTP.Listen = freePort(e.t)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	file := filepath.Join(e.t.TempDir(), "freight.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{t: e.t, out: &syncBuffer{}, addr: cfg.HTTP.Listen, exited: make(chan struct{})}
	p.cmd = exec.Command(freightBinary(e.t), append([]string{"run", "-c", file}, args...)...)
	p.cmd.Env = append(os.Environ(), extraEnv...)
	for k, v := range e.envs {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	e.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if e.t.Failed() {
			e.t.Logf("freight output:\n%s", p.out.String())
		}
	})
	return p
}

func (p *proc) signal(s syscall.Signal) {
	_ = p.cmd.Process.Signal(s)
}

// exitCode waits for the process to end and returns its exit code.
func (p *proc) exitCode() int {
	select {
	case <-p.exited:
	case <-time.After(wait):
		p.t.Fatalf("freight did not exit within %s", wait)
	}
	return p.cmd.ProcessState.ExitCode()
}

// metric sums a metric family's series on the process's /metrics.
func (p *proc) metric(name string) float64 {
	var sum float64
	for _, line := range strings.Split(p.get("/metrics"), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

func (p *proc) get(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A relay killed with SIGKILL in the middle of sending (requests in flight,
// nothing committed for them) and started again loses nothing and sends
// nothing twice: the dead process's claims expire, its uncommitted records
// are read again, and what it had confirmed is dropped as a duplicate.
func TestKilledRelayRestartsWithoutLossOrDuplicates(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Kafka.InstanceID = "freight-0" // static membership: the restart takes its partitions back at once
	cfg.Batch.MaxEvents = 20
	cfg.Batch.MaxInFlightRequests = 2
	recs, ids := batchOf("k", 0, 300, pixelA, 2)
	e.kafka.Produce(recs...)
	e.meta.SetDelay(100 * time.Millisecond)

	first := e.runProcess(cfg, nil)
	kafkatest.Eventually(t, wait, "some deliveries", func() bool { return e.meta.Total() >= 60 })
	// From now on Meta holds every request, and we kill once every event
	// Meta accepted is confirmed in Redis. A kill between Meta's answer and
	// the confirm would be the one duplicate no sender can prevent (the
	// contract's exception); this test is about everything else.
	e.meta.SetDelay(time.Hour)
	kafkatest.Eventually(t, wait, "every accepted event to be confirmed", func() bool {
		return e.confirmedKeys() == e.meta.Total()
	})
	first.signal(syscall.SIGKILL)
	first.exitCode()
	delivered := e.meta.Total()
	if delivered >= 300 {
		t.Fatalf("all events were delivered before the kill; the test proves nothing")
	}
	t.Logf("killed after %d of 300 events reached Meta (%d requests abandoned in flight)", delivered, e.meta.Requests().Abandoned)

	e.meta.SetDelay(0)
	second := e.runProcess(cfg, nil)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
	if e.meta.Total() != 300 {
		t.Errorf("Meta accepted %d events, want 300", e.meta.Total())
	}
	second.signal(syscall.SIGTERM)
	if code := second.exitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// SIGTERM stops fetching, lets the sends in flight finish, commits what is
// done and exits 0.
func TestSIGTERMDrainsAndCommits(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config()
	cfg.Kafka.CommitInterval = time.Hour // only the drain commits
	cfg.Batch.MaxEvents = 10
	e.meta.SetDelay(500 * time.Millisecond)
	recs, ids := batchOf("g", 0, 100, pixelA, 2)
	e.kafka.Produce(recs...)
	p := e.runProcess(cfg, nil)
	kafkatest.Eventually(t, wait, "sends in flight", func() bool {
		return strings.Contains(p.get("/metrics"), "freight_records_consumed_total")
	})
	kafkatest.Eventually(t, wait, "a first delivery", func() bool { return e.meta.Total() > 0 })
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	// Everything it had sent is committed: a restart does not send it again.
	committed := e.kafka.Committed(cfg.Kafka.Group)[webT]
	var n int64
	for _, o := range committed {
		n += o
	}
	if n == 0 {
		t.Fatal("nothing committed on SIGTERM")
	}
	sent := e.meta.Total()
	if int64(sent) != n {
		t.Errorf("Meta accepted %d events but %d offsets were committed", sent, n)
	}
	// A restart finishes the rest, without sending anything twice.
	e.meta.SetDelay(0)
	e.runProcess(cfg, nil)
	e.waitCaughtUp(cfg)
	e.assertOnce(pixelA, ids...)
}

// No access token or app secret appears in any output: logs at debug level,
// error messages, dead-letter records and headers, metrics, readiness.
func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t, 1)
	const wrongToken = "EAAB-this-token-was-revoked-42424242"
	const appSecret = "app-secret-never-to-be-seen-1234"
	e.envs["TOKEN_B"] = wrongToken
	e.envs["APP_SECRET"] = appSecret
	cfg := e.config()
	cfg.CAPI.AppSecretEnv = "APP_SECRET"
	cfg.Retry.GiveUpAfter = time.Second
	e.meta.FailNext(2, capitest.Fault5xx)
	var recs = []*kgo.Record{}
	for i := range 10 {
		recs = append(recs, webEvent(fmt.Sprintf("s%d", i), pixelA).record(webT, 0), webEvent(fmt.Sprintf("x%d", i), pixelB).record(webT, 0))
	}
	e.meta.RefuseEvent("bad")
	recs = append(recs, webEvent("bad", pixelA).record(webT, 0))
	e.kafka.Produce(recs...)
	p := e.runProcess(cfg, nil, "--log-level", "debug")
	e.waitCaughtUp(cfg)

	var outputs []string
	outputs = append(outputs, p.get("/metrics"), p.get("/readyz"), p.get("/healthz"))
	for _, r := range e.kafka.ReadAll(dlqT) {
		outputs = append(outputs, string(r.Key), string(r.Value))
		for _, h := range r.Headers {
			outputs = append(outputs, h.Key+"="+string(h.Value))
		}
	}
	for _, r := range e.meta.Events() {
		outputs = append(outputs, string(r.Raw))
	}
	p.signal(syscall.SIGTERM)
	p.exitCode()
	outputs = append(outputs, p.out.String())
	if !strings.Contains(p.out.String(), "level=DEBUG") {
		t.Fatal("no debug output: the test would prove little")
	}
	if len(e.kafka.ReadAll(dlqT)) != 11 {
		t.Errorf("want 11 dead letters (10 auth, 1 rejected), got %d", len(e.kafka.ReadAll(dlqT)))
	}
	for _, secret := range []string{tokenA, tokenB, wrongToken, appSecret} {
		for _, out := range outputs {
			if strings.Contains(out, secret) {
				t.Errorf("a secret leaked: %q found in output %.200q", secret, out)
			}
		}
	}
}
