package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/relay"
)

// cmdStatus asks a running freight (its http.listen) for the connection
// status of each pixel: the status Meta asks platforms to show advertisers.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight status", flag.ContinueOnError)
	path := fs.String("c", "", "configuration file (YAML): where the running freight listens (http.listen)")
	asJSON := fs.Bool("json", false, "print GET /status as it came")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return exitCode(err, stderr)
	}
	url := "http://" + dialable(cfg.HTTP.Listen) + "/status"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "freight status: %v\n", err)
		return exitFatal
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "freight status: is freight running? %v\n", err)
		return exitFatal
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "freight status: %s answered %s %v\n", url, resp.Status, err)
		return exitFatal
	}
	var rep relay.StatusReport
	if err := json.Unmarshal(body, &rep); err != nil {
		fmt.Fprintf(stderr, "freight status: %s: not a status report: %v\n", url, err)
		return exitFatal
	}
	if *asJSON {
		_, _ = io.Copy(stdout, bytes.NewReader(body))
	} else {
		printStatus(stdout, rep)
	}
	for _, p := range rep.Pixels {
		if p.State != relay.StateOK && p.State != relay.StateIdle {
			return exitFatal
		}
	}
	return exitOK
}

// dialable is where to reach a listen address from this machine: a
// wildcard host is this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func printStatus(w io.Writer, rep relay.StatusReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIXEL\tSTATE\tLAST ACCEPTED\tSENT 1H\tDEDUPLICATED 1H\tDEAD-LETTERED 1H\tLAST ERROR\tMATCH KEYS 1H")
	for _, p := range rep.Pixels {
		accepted := "-"
		if p.LastAccepted != nil {
			accepted = ago(rep.Time, *p.LastAccepted)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", p.Pixel, p.State, accepted,
			p.LastHour.Sent, p.LastHour.Deduplicated, p.LastHour.DeadLettered, lastError(rep.Time, p.LastError), matchKeys(p.MatchKeys))
	}
	tw.Flush()
}

// matchKeys lists the match keys by share, highest first: "em 100% ph 40%".
func matchKeys(m map[string]float64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Ties in capi's field order, so the line is the same every time.
	order := func(k string) int { return slices.Index(capi.FieldNames[:], k) }
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return order(a) - order(b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f%%", k, m[k]*100)
	}
	return strings.Join(parts, " ")
}

func lastError(now time.Time, e *relay.StatusError) string {
	if e == nil {
		return "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ago(now, e.Time), e.Reason)
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.Title != "" {
		fmt.Fprintf(&b, " %q", e.Title)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " fbtrace_id %s", e.FBTraceID)
	}
	return b.String()
}

// ago is how long before now t was, to the second: "3m12s ago".
func ago(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String() + " ago"
}
