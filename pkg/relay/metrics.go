package relay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/freight-relay/freight/pkg/capi"
	"github.com/freight-relay/freight/pkg/deadletter"
)

// metrics are the relay's Prometheus metrics (CONTRACT.md section 5;
// freight_consumer_lag is the lagTracker collector in lag.go). Labels
// come from bounded sets: configured topics and pixels, outcome and class
// names; never from error strings.
type metrics struct {
	consumed       *prometheus.CounterVec
	derivedIDs     *prometheus.CounterVec
	deduplicated   *prometheus.CounterVec
	sent           *prometheus.CounterVec
	deadLettered   *prometheus.CounterVec
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	batchEvents    prometheus.Histogram
	buffered       prometheus.Gauge
	bufferedBytes  prometheus.Gauge
	fieldEvents    *prometheus.CounterVec
	fieldDropped   *prometheus.CounterVec

	parked      *prometheus.GaugeVec
	parkedTotal *prometheus.CounterVec
	pixelState  *prometheus.GaugeVec

	identityLinked    *prometheus.CounterVec
	identityConflicts prometheus.Counter
	identityFailOpen  prometheus.Counter
	redisErrors       *prometheus.CounterVec
	failOpen          prometheus.Counter
	leasesLost        prometheus.Counter
	deprecated        prometheus.Counter
	usage             *prometheus.GaugeVec
	dlWriteErrors     prometheus.Counter
	parkFailed        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_records_consumed_total", Help: "Records read from the input topics.",
		}, []string{"topic"}),
		derivedIDs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_event_ids_derived_total", Help: "Events without an event_id, given one derived from the record's bytes (stable across redeliveries, parking and replays), by topic.",
		}, []string{"topic"}),
		deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_events_deduplicated_total", Help: "Events dropped because they had been sent already.",
		}, []string{"pixel"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_events_sent_total", Help: "Events accepted by the Conversions API.",
		}, []string{"pixel"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_events_dead_lettered_total", Help: "Records written to the dead-letter topic, by class.",
		}, []string{"class"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_capi_requests_total", Help: "Conversions API requests by pixel and outcome.",
		}, []string{"pixel", "outcome"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "freight_capi_request_duration_seconds", Help: "Conversions API request latency.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 1.5, 2.5, 5, 10},
		}, []string{"pixel"}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "freight_batch_events", Help: "Events per Conversions API request.",
			Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 750, 1000},
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "freight_buffered_events", Help: "Records read and not yet done (waiting, batched, in flight). Fetching pauses at batch.max_buffered_events.",
		}),
		bufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "freight_buffered_bytes", Help: "Bytes the records held take, done ones not yet committable included (an estimate of their heap). Fetching pauses at batch.max_buffered_bytes.",
		}),
		fieldEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_user_data_field_events_total", Help: "Sent events carrying each user_data match key.",
		}, []string{"pixel", "field"}),
		fieldDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_user_data_values_dropped_total",
			Help: "Sent events from which a given customer data value was left out because it did not normalize (an e-mail without @, a phone without digits), by match key.",
		}, []string{"pixel", "field"}),
		parked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freight_parked_events", Help: "Parked events read back from the parking topic and waiting here for their time.",
		}, []string{"pixel"}),
		parkedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_events_parked_total", Help: "Events written to the parking topic, by pixel and why the pixel could not be served.",
		}, []string{"pixel", "reason"}),
		pixelState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freight_pixel_state", Help: "1 for the pixel's current state: ok, idle (nothing served in the last hour), throttled, auth_error, config_error, failing (no answer or 5xx) or parked.",
		}, []string{"pixel", "state"}),
		identityLinked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_identity_linked_events_total", Help: "Events without an external_id that got one from the identity graph.",
		}, []string{"pixel"}),
		identityConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_identity_conflicts_total", Help: "Identifiers already linked to another external_id than an event's; the first link stays.",
		}),
		identityFailOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_identity_fail_open_total", Help: "Events sent without identity lookup because Redis failed (on_error: fail_open).",
		}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_redis_errors_total", Help: "Failed Redis round trips, by operation (dedup steps, identity).",
		}, []string{"op"}),
		failOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_dedup_fail_open_total", Help: "Events sent without a dedup claim because Redis failed (on_error: fail_open).",
		}),
		leasesLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_dedup_leases_lost_total", Help: "Dedup claims found expired when renewing them.",
		}),
		usage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freight_capi_usage_percent", Help: "Highest share of a Meta rate limit used, from the last answer's usage headers.",
		}, []string{"pixel"}),
		deprecated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_capi_deprecated_version_total", Help: "Requests refused because capi.api_version is no longer served.",
		}),
		dlWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_dead_letter_write_errors_total", Help: "Failed writes to the dead-letter topic; each is retried, the record's offset waits.",
		}),
		parkFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "freight_park_failures_total", Help: "Events dead-lettered because the parking topic would not take them (too large, or failing past retry.give_up_after).",
		}),
	}
	for _, c := range []prometheus.Collector{m.consumed, m.derivedIDs, m.deduplicated, m.sent, m.deadLettered, m.requests,
		m.requestSeconds, m.batchEvents, m.buffered, m.bufferedBytes, m.fieldEvents, m.fieldDropped, m.parked, m.parkedTotal, m.pixelState, m.identityLinked, m.identityConflicts, m.identityFailOpen, m.redisErrors, m.failOpen,
		m.leasesLost, m.deprecated, m.usage, m.dlWriteErrors, m.parkFailed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// parkReasons are the values of freight_events_parked_total's reason label.
var parkReasons = []string{ReasonAuth, ReasonThrottled, ReasonUnavailable, ReasonDeprecated}

// zero exports every labelled family from the start, with a zero for each
// known label value (CONTRACT.md section 5): an alert on rate(...) > 0 must
// tell "none yet" from "not exported". Every pixel starts ok.
func (m *metrics) zero(topics []string, pixels []Pixel) {
	for _, t := range topics {
		m.consumed.WithLabelValues(t)
		m.derivedIDs.WithLabelValues(t)
	}
	for _, c := range deadletter.Classes {
		m.deadLettered.WithLabelValues(c)
	}
	for _, op := range []string{"claim", "confirm", "renew", "release", "identity"} {
		m.redisErrors.WithLabelValues(op)
	}
	for _, p := range pixels {
		px := p.ID
		m.deduplicated.WithLabelValues(px)
		m.sent.WithLabelValues(px)
		m.requestSeconds.WithLabelValues(px)
		m.parked.WithLabelValues(px)
		m.identityLinked.WithLabelValues(px)
		m.usage.WithLabelValues(px)
		for o := capi.OK; o <= capi.Deprecated; o++ {
			m.requests.WithLabelValues(px, o.String())
		}
		for _, f := range capi.FieldNames {
			m.fieldEvents.WithLabelValues(px, f)
			m.fieldDropped.WithLabelValues(px, f)
		}
		for _, r := range parkReasons {
			m.parkedTotal.WithLabelValues(px, r)
		}
		for _, s := range pixelStates {
			m.pixelState.WithLabelValues(px, s)
		}
		m.pixelState.WithLabelValues(px, StateIdle).Set(1)
	}
}
