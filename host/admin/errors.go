package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
)

// APIError is an error with the HTTP status it is answered with. Handlers
// return it for failures the registry and the sandbox do not type themselves;
// handleError maps everything else.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is what the client reads in {"error": ...}.
	Message string
	// Err is the cause, when there is one; it is logged for 5xx statuses,
	// never sent.
	Err error
	// RetryAfter, when set, is sent as the Retry-After header: when to try
	// again after a 429 or 503.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *APIError) Unwrap() error { return e.Err }

// apiErrorf returns an *APIError with a formatted message.
func apiErrorf(status int, format string, args ...any) *APIError {
	return &APIError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// handleError is the one place that turns an error into a status and a JSON
// body: *APIError as given, registry and sandbox errors by type, anything
// else 500 with a generic message (the cause is logged, not sent).
func (a *API) handleError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := a.classify(err)
	if (ctx.IsGet() || ctx.IsHead()) && errors.Is(err, registry.ErrUnavailable) {
		msg = "the registry store is unavailable: it cannot be read now; callbacks are served from the last loaded state; retry later"
	}
	var ae *APIError
	busy := errors.As(err, &ae) && ae.RetryAfter > 0 // an answer, not a fault
	if busy {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(int(ae.RetryAfter/time.Second)))
	}
	if status >= 500 && !busy {
		a.log.Error("admin: request failed",
			"method", string(ctx.Method()), "path", string(ctx.Path()), "status", status, "err", err)
	}
	writeJSON(ctx, status, ErrorBody{Error: msg})
	if status == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="imhook admin"`) // RFC 6750
	}
}

// classify maps an error to its status and client message.
func (a *API) classify(err error) (int, string) {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status >= 500 {
			return ae.Status, ae.Message
		}
		return ae.Status, ae.Error()
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fasthttp.StatusNotFound, err.Error()
	case errors.Is(err, registry.ErrExists), errors.Is(err, registry.ErrActive):
		return fasthttp.StatusConflict, err.Error()
	case errors.Is(err, registry.ErrConflict):
		return fasthttp.StatusPreconditionFailed, err.Error() + "; read it again and retry with the new ETag"
	case errors.Is(err, registry.ErrInvalid):
		return fasthttp.StatusBadRequest, err.Error()
	case errors.Is(err, plugins.ErrInvalidModule):
		return fasthttp.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return fasthttp.StatusServiceUnavailable, "the operation timed out; the server is busy, retry later"
	case errors.Is(err, registry.ErrDataLost):
		// The details (address, revisions, the command to end it) are in
		// the log, /readyz and GET /v1/store, for the operator.
		return fasthttp.StatusServiceUnavailable, "the registry store lost data: reads and changes are refused until the operator restores it and accepts (docs/deploy.md); callbacks are served from the last loaded state"
	case errors.Is(err, registry.ErrUnavailable):
		// The cause names the store's address: log it, don't send it to tenants.
		return fasthttp.StatusServiceUnavailable, "the registry store is unavailable; retry later (read the tenant first to see whether the change was applied)"
	}
	return fasthttp.StatusInternalServerError, "internal error; the server log has the details"
}

// writeJSON writes v as the JSON response with status.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // error messages hold "->" and "<token>"
	err := enc.Encode(v)
	b := buf.Bytes()
	if err != nil {
		// Our own types always encode; only a Stats value from Options can fail.
		status = fasthttp.StatusInternalServerError
		b = []byte(`{"error":"internal error: encoding the response failed"}` + "\n")
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b)
}
