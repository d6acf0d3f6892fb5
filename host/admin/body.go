package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// decodeJSON decodes the request body into v: it must be declared as JSON
// (which a browser cannot send cross-origin without a preflight), fit in
// limit bytes, be one JSON value, and hold only known fields.
func decodeJSON(rc *fasthttp.RequestCtx, limit int, v any, types ...string) error {
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	if err := checkContentType(rc, types...); err != nil {
		return err
	}
	body := rc.PostBody()
	if len(body) > limit {
		return apiErrorf(fasthttp.StatusRequestEntityTooLarge, "request body of %d bytes is over the %d byte limit", len(body), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return apiErrorf(fasthttp.StatusBadRequest, "bad JSON: the request body is empty")
		}
		return apiErrorf(fasthttp.StatusBadRequest, "bad JSON: %s", err)
	}
	if dec.More() {
		return apiErrorf(fasthttp.StatusBadRequest, "bad JSON: more than one value in the request body")
	}
	return nil
}

// checkContentType answers 415 unless the request's media type is one of
// types.
func checkContentType(rc *fasthttp.RequestCtx, types ...string) error {
	ct := string(rc.Request.Header.ContentType())
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, t := range types {
			if strings.EqualFold(mt, t) {
				return nil
			}
		}
	}
	if ct == "" {
		ct = "none"
	}
	return apiErrorf(fasthttp.StatusUnsupportedMediaType, "content type[%s] not accepted here; send Content-Type: %s", ct, strings.Join(types, " or "))
}

// ifMatch returns the revision in the If-Match header: registry.AnyRevision
// when the header is absent or "*".
func ifMatch(rc *fasthttp.RequestCtx) (uint64, error) {
	h := strings.TrimSpace(string(rc.Request.Header.Peek(fasthttp.HeaderIfMatch)))
	if h == "" || h == "*" {
		return registry.AnyRevision, nil
	}
	tag := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	rev, err := strconv.ParseUint(tag, 10, 64)
	if err != nil || rev == 0 {
		return 0, apiErrorf(fasthttp.StatusBadRequest, "If-Match[%s]: want an ETag from this API, such as \"42\"", h)
	}
	return rev, nil
}

// setETag sets the ETag of a tenant at revision rev.
func setETag(rc *fasthttp.RequestCtx, rev uint64) {
	rc.Response.Header.Set(fasthttp.HeaderETag, `"`+strconv.FormatUint(rev, 10)+`"`)
}

// queryBool reads a boolean query parameter; absent is false.
func queryBool(rc *fasthttp.RequestCtx, name string) (bool, error) {
	v := rc.QueryArgs().Peek(name)
	if v == nil {
		return false, nil
	}
	if len(v) == 0 {
		return true, nil // "?activate" alone
	}
	b, err := strconv.ParseBool(string(v))
	if err != nil {
		return false, apiErrorf(fasthttp.StatusBadRequest, "query %s[%s]: want true or false", name, v)
	}
	return b, nil
}
