// Package iso4217 knows the currency codes Meta accepts in custom_data:
// the active codes of ISO 4217. Both freight's validation and the Meta
// stand-in use it; it is data, not logic under test.
package iso4217

import "strings"

// Valid reports whether c is an active ISO 4217 currency code, in any
// case (freight sends it uppercased).
func Valid(c string) bool {
	if len(c) != 3 {
		return false
	}
	var up [3]byte
	for i := 0; i < 3; i++ {
		b := c[i]
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		if b < 'A' || b > 'Z' {
			return false
		}
		up[i] = b
	}
	return strings.Contains(codes, string(up[:]))
}

// codes lists the active ISO 4217 codes (list one of the standard, 2026),
// without the fund and precious-metal codes (X..), which are no prices.
// Every code is three letters and the list is space-separated, so a
// substring test of an uppercase 3-letter code is a membership test.
const codes = "" +
	"AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD " +
	"GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT " +
	"LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR " +
	"NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP " +
	"STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG " +
	"XOF XPF YER ZAR ZMW ZWG"
