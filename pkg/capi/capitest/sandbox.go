package capitest

import (
	"net/http"
	"slices"
	"strconv"
)

// SandboxStats is the body of GET /_sandbox/stats.
type SandboxStats struct {
	Requests       RequestStats `json:"requests"`
	EventsTotal    int          `json:"events_total"`    // accepted since start or reset
	EventsRecorded int          `json:"events_recorded"` // kept for /_sandbox/events
	Pixels         []string     `json:"pixels"`          // pixels that exist (never their tokens)
	Faults         string       `json:"faults"`          // probabilistic faults, ParseFaults syntax
	Delay          string       `json:"delay"`
}

type sandboxError struct {
	Error string `json:"error"`
}

// serveSandbox serves, for `freight sandbox` users:
//
//	GET    /_sandbox/events[?pixel=ID][&event_name=NAME][&limit=N]  accepted events, newest last
//	DELETE /_sandbox/events                                         Reset
//	GET    /_sandbox/stats                                          SandboxStats
func (s *Server) serveSandbox(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_sandbox/events":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.listEvents(w, r)
		case http.MethodDelete:
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, HEAD, DELETE")
			writeJSON(w, http.StatusMethodNotAllowed, "", sandboxError{"use GET or DELETE"})
		}
	case "/_sandbox/stats":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, "", sandboxError{"use GET"})
			return
		}
		writeJSON(w, http.StatusOK, "", s.sandboxStats())
	default:
		writeJSON(w, http.StatusNotFound, "", sandboxError{"not found: the sandbox serves /_sandbox/events and /_sandbox/stats"})
	}
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := -1
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, "", sandboxError{"limit must be a non-negative integer"})
			return
		}
		limit = n
	}
	pixel, name := q.Get("pixel"), q.Get("event_name")

	s.mu.Lock()
	var picked []Received
	for i := len(s.events) - 1; i >= 0 && (limit < 0 || len(picked) < limit); i-- {
		ev := s.events[i]
		if (pixel == "" || ev.PixelID == pixel) && (name == "" || ev.EventName == name) {
			picked = append(picked, ev)
		}
	}
	s.mu.Unlock()

	slices.Reverse(picked)
	if picked == nil {
		picked = []Received{}
	}
	writeJSON(w, http.StatusOK, "", picked)
}

func (s *Server) sandboxStats() SandboxStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SandboxStats{
		Requests:       s.stats,
		EventsTotal:    s.total,
		EventsRecorded: len(s.events),
		Pixels:         make([]string, 0, len(s.tokens)),
		Faults:         s.faults.String(),
		Delay:          s.delay.String(),
	}
	for p := range s.tokens {
		st.Pixels = append(st.Pixels, p)
	}
	slices.Sort(st.Pixels)
	return st
}
