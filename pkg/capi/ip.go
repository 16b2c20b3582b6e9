package capi

import (
	"net/netip"
	"strings"
)

// clientIP returns the address to send for client_ip_address: the value
// itself when it is an IP address, else the first valid address of a list
// (an X-Forwarded-For header copied as it was: "client, proxy1, proxy2"),
// without a port; dropped reports a value with no valid address in it.
func clientIP(v string) (ip string, dropped bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false
	}
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if a, err := netip.ParseAddr(part); err == nil && !a.IsUnspecified() {
			return part, false
		}
		if ap, err := netip.ParseAddrPort(part); err == nil && !ap.Addr().IsUnspecified() {
			return ap.Addr().String(), false
		}
	}
	return "", true
}
