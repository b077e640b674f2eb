package mockglp

import (
	"database/sql"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Attribution methods, as /_mock/conversions reports them.
const (
	MethodDirect    = "direct"     // transaction_id of a logged click
	MethodInferred  = "inferred"   // transaction_id never seen: a click was inferred
	MethodSession   = "session"    // session_token of a logged click
	MethodSoftEmail = "soft_email" // the most recent unconverted click with that email
	MethodSoftIP    = "soft_ip"    // the most recent unconverted click from that IP
)

// The guide's answers.
const (
	msgRecorded       = "Conversion recorded successfully."
	msgAlreadyTracked = "Conversion already tracked for this click."
	msgNotAttributed  = "Conversion not attributed: No valid click identifier found or matched."
)

// call is what the rules know of one conversion call besides its body.
type call struct {
	test     bool          // ?testMode=true: test data, never mixed with live data
	sourceIP string        // the caller's address, for inferred clicks without an ip
	now      time.Time     // when the call is handled
	window   time.Duration // how far back soft-matching looks
}

// outcome is the answer to one conversion call.
type outcome struct {
	status int
	body   any
	method string // "" unless a conversion was recorded
}

type recordedBody struct {
	Status       string `json:"status"`
	Message      string `json:"message"`
	ConversionID string `json:"conversion_id"`
	ClickID      string `json:"glp_click_id"`
	RecordedAt   string `json:"recorded_at"`
	Mode         string `json:"mode,omitempty"`
}

type duplicateBody struct {
	Status       string `json:"status"`
	Message      string `json:"message"`
	ConversionID string `json:"conversion_id"`
}

type errorBody struct {
	Error   string `json:"error"`
	Details any    `json:"details,omitempty"`
}

// attribute applies GLP Winner's attribution rules to a valid conversion,
// within the provider and the mode, in one transaction:
//   - transaction_id known: duplicate if its click converted, else recorded;
//   - transaction_id unknown: an inferred click is created and converted;
//   - no transaction_id, session_token known: as for a known click;
//   - otherwise soft-match on the most recent unconverted click inside the
//     window, by email (case-insensitive), else by IP; none: 422.
func attribute(tx *sql.Tx, req conversionRequest, c call) (outcome, error) {
	if req.TransactionID != "" {
		clk, ok, err := findClick(tx, req.ProviderID, c.test, "glp_click_id = ?", req.TransactionID)
		if err != nil {
			return outcome{}, err
		}
		if ok {
			return convertClick(tx, clk, req, c, MethodDirect)
		}
		clk = click{ClickID: req.TransactionID, ProviderID: req.ProviderID, Test: c.test, IP: req.IP, Email: req.Email, Inferred: true, createdNano: c.now.UnixNano()}
		if clk.IP == "" {
			clk.IP = c.sourceIP
		}
		if clk.ID, err = insertClick(tx, clk); err != nil {
			return outcome{}, err
		}
		return convertClick(tx, clk, req, c, MethodInferred)
	}
	if req.SessionToken != "" {
		clk, ok, err := findClick(tx, req.ProviderID, c.test, "session_token = ?", req.SessionToken)
		if err != nil {
			return outcome{}, err
		}
		if ok {
			return convertClick(tx, clk, req, c, MethodSession)
		}
	}
	since := c.now.Add(-c.window).UnixNano()
	soft := []struct {
		value, where, method string
	}{
		{req.Email, "lower(email) = lower(?)", MethodSoftEmail},
		{req.IP, "ip = ?", MethodSoftIP},
	}
	for _, s := range soft {
		if s.value == "" {
			continue
		}
		clk, ok, err := findClick(tx, req.ProviderID, c.test,
			"converted = 0 AND created_at >= ? AND "+s.where+" ORDER BY created_at DESC, id DESC", since, s.value)
		if err != nil {
			return outcome{}, err
		}
		if ok {
			return convertClick(tx, clk, req, c, s.method)
		}
	}
	return outcome{status: http.StatusUnprocessableEntity, body: errorBody{Error: msgNotAttributed}}, nil
}

// convertClick records the conversion on clk, or answers duplicate with the
// original conversion id when clk already has one.
func convertClick(tx *sql.Tx, clk click, req conversionRequest, c call, method string) (outcome, error) {
	if clk.Converted {
		orig, err := originalConversion(tx, clk.ID)
		if err != nil {
			return outcome{}, err
		}
		return outcome{status: http.StatusOK, body: duplicateBody{Status: "duplicate", Message: msgAlreadyTracked, ConversionID: orig}}, nil
	}
	id, err := uuid.NewV7() // time-ordered: the unique index grows at its end
	if err != nil {
		return outcome{}, err
	}
	conv := conversion{ConversionID: id.String(), ExternalID: req.ConversionID, Email: req.Email, IP: req.IP, Method: method}
	if err := insertConversion(tx, clk, conv, c.now.UnixNano()); err != nil {
		return outcome{}, err
	}
	body := recordedBody{Status: "ok", Message: msgRecorded, ConversionID: conv.ConversionID, ClickID: clk.ClickID,
		RecordedAt: c.now.UTC().Format(time.RFC3339Nano)}
	if c.test {
		body.Mode = "test"
	}
	return outcome{status: http.StatusCreated, body: body, method: method}, nil
}
