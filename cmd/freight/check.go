package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/config"
)

// cmdCheck is the connection test Meta asks platforms to offer advertisers:
// one clearly named test event per pixel, and what Meta answered.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("freight check", flag.ContinueOnError)
	path := fs.String("c", "", "configuration file (YAML)")
	only := fs.String("pixel", "", "check this configured pixel only")
	code := fs.String("test-event-code", "", "Events Manager test code (default: each pixel's test_event_code)")
	var lf logFlags
	lf.register(fs)
	if !parseFlags(fs, args, stderr) {
		return exitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return exitCode(err, stderr)
	}
	var pixels []config.Pixel
	for _, p := range cfg.CAPI.Pixels {
		if *only == "" || p.ID == *only {
			pixels = append(pixels, p)
		}
	}
	if len(pixels) == 0 {
		msg := "no pixel is configured (capi.pixels)"
		if *only != "" {
			msg = "pixel " + *only + " is not configured in capi.pixels"
		}
		return exitCode(&config.ValidationError{Problems: []config.Problem{{Key: "--pixel", Message: msg}}}, stderr)
	}
	client := capi.NewClient(capi.ClientConfig{BaseURL: cfg.CAPI.BaseURL, APIVersion: cfg.CAPI.APIVersion,
		PartnerAgent: cfg.CAPI.PartnerAgent, Timeout: cfg.CAPI.Timeout})
	var appSecret string
	if cfg.CAPI.AppSecretEnv != "" {
		s, err := config.LookupSecret(cfg.CAPI.AppSecretEnv, nil)
		if err != nil {
			return exitCode(&config.ValidationError{Problems: []config.Problem{{Key: "capi.app_secret_env", Message: err.Error()}}}, stderr)
		}
		appSecret = s.Reveal()
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIXEL\tHTTP\tEVENTS RECEIVED\tFBTRACE_ID\tRESULT")
	allOK := true
	for _, p := range pixels {
		row := checkPixel(ctx, client, p, *code, appSecret)
		allOK = allOK && row.ok
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, row.status, row.received, row.trace, row.result)
	}
	tw.Flush()
	if !allOK {
		return exitFatal
	}
	return exitOK
}

type checkRow struct {
	ok                              bool
	status, received, trace, result string
}

func checkPixel(ctx context.Context, client *capi.Client, p config.Pixel, code, appSecret string) checkRow {
	row := checkRow{status: "-", received: "-", trace: "-"}
	token, err := config.NewTokenSource(p, nil).Token()
	if err != nil {
		row.result = "not sent: " + err.Error()
		return row
	}
	if code == "" {
		code = p.TestEventCode
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	ev := capi.ConnectionTestEvent("freight-check-"+hex.EncodeToString(b[:]), time.Now())
	res := client.Send(ctx, capi.Request{PixelID: p.ID, Token: token.Reveal(), AppSecret: appSecret,
		RequestParams: capi.RequestParams{TestEventCode: code}, Events: []json.RawMessage{ev}})
	if res.Status != 0 {
		row.status = strconv.Itoa(res.Status)
	}
	if res.FBTraceID != "" {
		row.trace = res.FBTraceID
	}
	if res.Outcome == capi.OK {
		row.ok = res.Status == 200
		row.received = strconv.Itoa(res.EventsReceived)
		row.result = "ok"
		if code == "" {
			row.result = "ok (no test_event_code: Meta counts this event)"
		}
		return row
	}
	row.result = res.Outcome.String()
	if res.Code != 0 {
		row.result += fmt.Sprintf(": code %d", res.Code)
	}
	if res.Subcode != 0 {
		row.result += fmt.Sprintf(" subcode %d", res.Subcode)
	}
	if res.Message != "" {
		row.result += ": " + res.Message
	}
	return row
}
