// Command probe is the container image's health check: the image has no
// shell, curl or wget (distroless), so docker-compose's healthcheck runs
// this instead. It GETs one URL and exits 0 on a 2xx answer, 1 otherwise.
//
//	probe http://127.0.0.1:9464/readyz
//
// Kubernetes does not need it: its probes speak HTTP themselves.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	os.Exit(probe(os.Args[1], os.Stderr))
}

func probe(url string, stderr io.Writer) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "probe: %s: %s %s\n", url, resp.Status, body)
		return 1
	}
	return 0
}
